// Package adaptive holds learnstream's online learner models: Elo with
// uncertainty for ability and item difficulty, Bayesian Knowledge Tracing
// (BKT) for per-skill mastery, a combined online correctness predictor, and
// the choice of the next item at a target success probability.
//
// Everything learns one event at a time (Model.Observe: predict from the
// current state, then learn), which is how the adaptive consumer runs on
// the event stream and how Prequential evaluates it. The one batch step is
// FitBKT, an EM (Baum-Welch) fit of per-skill BKT parameters from history.
//
// Models:
//
//   - Elo: P = g + (1-g) * sigmoid(theta_global + mean(theta_skill) - d_item),
//     g = 1/options for choice items (0 otherwise). After an answer c each
//     rating moves by U(n) * (c - P) with U(n) = a / (1 + b n), n the
//     number of attempts the rating already rests on (EloConfig).
//   - BKT: per skill (prior, learn, forget, guess, slip), online posterior
//     then transition per attempt (BKTParams.Step).
//   - Combined: a logistic regression over Elo, BKT, PFA / Best-LR style
//     counts, item and skill biases and recency features, trained online by
//     Adagrad (features.go lists the groups). No batch retraining.
//
// Ids are dense int32s; Index maps the strings of statements to them and
// validates attempts. Every input error is a *ValidationError naming the
// field and the rule, with the Action a consumer takes (dead-letter queue,
// or a documented default).
//
// The package is pure: no IO besides parsing an io.Reader (ReadDataset), no
// imports outside the standard library. A Model is not safe for concurrent
// use; the Observe hot path does not allocate once learners, items and
// skills are known. docs/adaptive.md has the formulas, defaults, evaluation
// protocol and measured figures.
package adaptive
