package adaptive

import (
	"fmt"
	"strings"
)

// Features is a set of feature groups of the combined predictor. Groups can
// be switched off for ablations (docs/adaptive.md has the table).
type Features uint32

const (
	// FeatItem: one learned bias per item (its easiness), as the item
	// one-hot of IRT and Best-LR.
	FeatItem Features = 1 << iota
	// FeatSkill: one learned bias per skill.
	FeatSkill
	// FeatSkillCounts: per-skill slopes on log(1+attempts) and
	// log(1+correct) of the learner on that skill (PFA, Best-LR "sc").
	FeatSkillCounts
	// FeatTotalCounts: log(1+attempts) and log(1+correct) over all skills
	// (Best-LR "tc").
	FeatTotalCounts
	// FeatItemCounts: log(1+attempts) and log(1+correct) of the learner on
	// this very item (Best-LR "ic").
	FeatItemCounts
	// FeatElo: the Elo logit theta_global + theta_skill - d_item.
	FeatElo
	// FeatBKT: the logit of BKT's predicted success.
	FeatBKT
	// FeatRecency: last outcome on the skill, decayed success rates on the
	// skill and overall, and how many attempts ago the skill was last seen.
	FeatRecency
	// FeatEloParts: the three Elo terms as separate features, so the
	// predictor can weigh ability, skill ability and difficulty apart.
	FeatEloParts
	// FeatItemRate: the item's smoothed success rate over all learners so
	// far (logit), an empirical difficulty without Elo's step noise.
	FeatItemRate

	allFeatures = FeatItem | FeatSkill | FeatSkillCounts | FeatTotalCounts |
		FeatItemCounts | FeatElo | FeatBKT | FeatRecency | FeatEloParts | FeatItemRate

	// DefaultFeatures is every group.
	DefaultFeatures = allFeatures
)

// Indices of the dense features (shared weights).
const (
	fBias = iota
	fTotalAttempts
	fTotalWins
	fItemAttempts
	fItemWins
	fEloLogit
	fBKTLogit
	fLastOutcome
	fSkillRecent
	fLearnerRecent
	fSkillGap
	fEloTheta
	fEloSkill
	fEloDiff
	fItemRate
	numDense
)

// featureNames are the names ParseFeatures and Features.String use.
var featureNames = []struct {
	name string
	f    Features
}{
	{"item", FeatItem},
	{"skill", FeatSkill},
	{"skill-counts", FeatSkillCounts},
	{"total-counts", FeatTotalCounts},
	{"item-counts", FeatItemCounts},
	{"elo", FeatElo},
	{"bkt", FeatBKT},
	{"recency", FeatRecency},
	{"elo-parts", FeatEloParts},
	{"item-rate", FeatItemRate},
}

// FeatureNames lists the feature group names in a stable order.
func FeatureNames() []string {
	out := make([]string, len(featureNames))
	for i, f := range featureNames {
		out[i] = f.name
	}
	return out
}

// ParseFeatures reads a comma-separated list of group names; "all" is every
// group and a leading "-" removes a group, so "all,-recency" is an ablation.
func ParseFeatures(s string) (Features, error) {
	var f Features
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		remove := strings.HasPrefix(part, "-")
		name := strings.TrimPrefix(part, "-")
		var g Features
		if name == "all" {
			g = allFeatures
		} else {
			for _, fn := range featureNames {
				if fn.name == name {
					g = fn.f
				}
			}
		}
		if g == 0 {
			return 0, &ValidationError{Field: "features", Rule: "must be all or a list of " + strings.Join(FeatureNames(), ", ") + " (a leading - removes one)", Value: fmt.Sprintf("%q", name), Action: ActionDLQ}
		}
		if remove {
			f &^= g
		} else {
			f |= g
		}
	}
	if f == 0 {
		return 0, &ValidationError{Field: "features", Rule: "must select at least one feature group", Value: fmt.Sprintf("%q", s), Action: ActionDLQ}
	}
	return f, nil
}

// String lists the groups of f, comma-separated.
func (f Features) String() string {
	if f == allFeatures {
		return "all"
	}
	var parts []string
	for _, fn := range featureNames {
		if f&fn.f != 0 {
			parts = append(parts, fn.name)
		}
	}
	return strings.Join(parts, ",")
}
