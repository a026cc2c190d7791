package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/learnstream/learnstream/projections"
)

// RecommendModule serves learners' recommendations: the latest
// RecommendationsUpdated of a learner, and the same events as an SSE feed.
type RecommendModule struct {
	Recommendations *projections.Recommendations
	// Feed and Stream configure GET /v1/streams/recommendations (nil Feed
	// leaves it out).
	Feed   RecommendationFeed
	Stream SSEConfig
	// Consents, when set, keeps a personalised list from a learner who
	// withdrew consent to personalisation while the recommender has not
	// yet replaced it (it does, in order with the learner's statements).
	Consents interface {
		Consent(ctx context.Context, tenant, learner string) (projections.ConsentState, error)
	}
	Logger *slog.Logger
}

// Register adds the recommendation routes.
func (m *RecommendModule) Register(r Router) {
	if m.Recommendations != nil {
		r.Handle("GET /v1/learners/{learner}/recommendations", m.learner, "all", "all/read")
	}
	if m.Feed != nil {
		s := &sseFeed{feed: m.Feed, cfg: m.Stream, log: m.Logger}
		r.Handle("GET /v1/streams/recommendations", s.serve, "all", "all/read")
	}
}

func (m *RecommendModule) learner(w http.ResponseWriter, r *http.Request) {
	learner := learnerKey(r.PathValue("learner"))
	lr, err := m.Recommendations.Learner(r.Context(), Tenant(r), learner)
	switch {
	case errors.Is(err, projections.ErrNotFound):
		writePlainError(w, http.StatusNotFound, "no recommendations for learner "+learner+" yet")
	case err != nil:
		if m.Logger != nil {
			m.Logger.Error("read recommendations", "err", err)
		}
		writePlainError(w, http.StatusInternalServerError, "could not read recommendations")
	default:
		if m.Consents != nil && lr.Personal() {
			c, err := m.Consents.Consent(r.Context(), Tenant(r), learner)
			if err != nil {
				writePlainError(w, http.StatusInternalServerError, "could not read consent")
				return
			}
			if !c.Personalisation {
				lr.Items = nil // the non-personal list is on its way
			}
		}
		if lr.Items == nil {
			lr.Items = []projections.Recommendation{}
		}
		writePlainJSON(w, http.StatusOK, lr)
	}
}
