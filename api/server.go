package api

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
)

// StatementReader reads stored statements.
type StatementReader interface {
	Statement(ctx context.Context, tenant, id string) ([]byte, error)
}

// EventPublisher publishes events durably (acknowledged by the log).
type EventPublisher interface {
	PublishEvents(ctx context.Context, topic string, evs ...event.Event) error
}

// Config wires the server to the rest of the system.
type Config struct {
	Auth            Authenticator
	Publisher       EventPublisher
	StatementsTopic string
	Statements      StatementReader
	// Waiters, when set, makes writes answer only after the statements
	// projection of this process applied them (read-your-writes).
	Waiters *projections.Waiters
	// ConsistencyTimeout bounds that wait. A write that is durable in Kafka
	// but not yet projected still answers success after it; reads catch up.
	ConsistencyTimeout time.Duration
	// MaxBodyBytes limits request bodies (413 beyond it).
	MaxBodyBytes int64
	// MaxPackageBytes, when set, is the body limit of POST /v1/packages
	// instead of MaxBodyBytes: content packages are archives of media.
	MaxPackageBytes int64
	// MaxBatch limits the statements in one POST (413 beyond it).
	MaxBatch int
	// AuthorityHome is the account homePage of the authority agents this
	// LRS writes into statements (one per credential).
	AuthorityHome string
	// Backlog, when set, reports how many statement events the statements
	// projection has not applied yet. Writes answer 503 with Retry-After
	// while it exceeds MaxBacklog, instead of queueing without bound.
	Backlog    func() int64
	MaxBacklog int64
	// StatementEnds, when set, reports the end offset of every partition
	// of the statements topic as last measured, and false before the
	// first measurement; X-Experience-API-Consistent-Through then holds
	// back for partitions the projection has not caught up with (writes
	// of other processes, a restart's backlog).
	StatementEnds func() (map[int]int64, bool)
	// Admin serves the operator endpoints under /v1/admin/ (projections,
	// replay); nil leaves them out.
	Admin Admin
	// Progress serves learner progress under /v1/learners/; nil leaves it
	// out (the process does not run that projection).
	Progress ProgressReader
	// Modules are the /v1/ endpoints of the roles this process runs.
	Modules []Module
	// Source is the CloudEvents source of the events this server emits.
	Source string
	// Ready reports whether the process can serve (broker reachable,
	// consumers running).
	Ready  func(ctx context.Context) error
	Logger *slog.Logger
	// EventBrokers is the Kafka bootstrap address /asyncapi.json gives
	// integrators; empty documents a placeholder.
	EventBrokers string
	// Audit, with Pseudonyms, records every read of learner data
	// (docs/privacy.md, Access audit); nil records nothing.
	Audit AccessRecorder
	// Pseudonyms turns learner keys into pseudonyms (the key store).
	Pseudonyms privacy.Pseudonyms
}

// Server is the HTTP front of learnstream.
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
	// routes are the patterns registered on mux, in order.
	routes []string
}

// handle registers pattern on the mux and remembers it (Routes).
func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, h)
	s.routes = append(s.routes, pattern)
}

// Routes returns the patterns ("METHOD /path") this server serves; the
// OpenAPI document describes each of them.
func (s *Server) Routes() []string { return slices.Clone(s.routes) }

var (
	httpRequests = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "learnstream_http_requests_total",
		Help: "HTTP requests by route and status code.",
	}, []string{"route", "code"})
	httpDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "learnstream_http_request_duration_seconds",
		Help:    "HTTP request latency by route.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"route"})
)

// New returns a server; Handler serves it.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ConsistencyTimeout <= 0 {
		cfg.ConsistencyTimeout = 10 * time.Second
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 16 << 20
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1000
	}
	if cfg.Source == "" {
		cfg.Source = "learnstream"
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	s.register()
	return s
}

func (s *Server) register() {
	s.opsRoutes()
	x := &lrs{Server: s, be: s.backend()}
	auth := func(h http.HandlerFunc, scopes []string) http.HandlerFunc {
		return x.wrap(s.requireAuth(x.rememberVersion(h), scopes...))
	}
	s.handle("GET /xapi/about", x.about)
	s.handle("OPTIONS /xapi/", x.preflight)
	s.handle("POST /xapi/", x.wrap(x.noMethod))
	s.handle("POST /xapi/statements", auth(x.postStatements, scopesStatementsWrite))
	s.handle("PUT /xapi/statements", auth(x.putStatement, scopesStatementsWrite))
	s.handle("GET /xapi/statements", x.wrap(s.audited(s.requireAuth(x.rememberVersion(x.getStatements), scopesStatementsRead...))))
	s.handle("GET /xapi/activities", auth(x.activity, scopesDescribe))
	s.handle("GET /xapi/agents", x.wrap(s.audited(s.requireAuth(x.rememberVersion(x.agents), scopesDescribe...))))
	for _, d := range []struct {
		path        string
		res         docResource
		read, write []string
	}{
		{"/xapi/activities/state", stateResource, scopesStateRead, scopesStateWrite},
		{"/xapi/activities/profile", activityProfileResource, scopesProfileRead, scopesProfileWrite},
		{"/xapi/agents/profile", agentProfileResource, scopesProfileRead, scopesProfileWrite},
	} {
		h := x.documents(d.res)
		if d.res == activityProfileResource {
			s.handle("GET "+d.path, auth(h, d.read))
		} else {
			// State and agent profiles are the agent's data.
			s.handle("GET "+d.path, x.wrap(s.audited(s.requireAuth(x.rememberVersion(h), d.read...))))
		}
		for _, m := range []string{"PUT", "POST", "DELETE"} {
			s.handle(m+" "+d.path, auth(h, d.write))
		}
	}
	if x.be.Credentials != nil {
		s.handle("POST /v1/admin/credentials", s.requireAuth(x.createCredential, scopesAdmin...))
		s.handle("GET /v1/admin/credentials", s.requireAuth(x.listCredentials, scopesAdmin...))
		s.handle("DELETE /v1/admin/credentials/{key}", s.requireAuth(x.revokeCredential, scopesAdmin...))
	}
	s.v1Routes()
}

// opsRoutes are served by every process, whatever its roles.
func (s *Server) opsRoutes() {
	s.handle("GET /healthz", s.healthz)
	s.handle("GET /readyz", s.readyz)
	s.handle("GET /metrics", promhttp.Handler().ServeHTTP)
	s.handle("GET /openapi.json", documentHandler(OpenAPI))
	s.handle("GET /asyncapi.json", documentHandler(func() ([]byte, error) { return AsyncAPI(AsyncAPIOptions{Brokers: s.cfg.EventBrokers}) }))
}

// NewOps returns a server with only the operator endpoints (health,
// metrics, admin), for processes that do not run the api role.
func NewOps(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	s.opsRoutes()
	s.v1Routes()
	return s
}

// Handler returns the server's root handler.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		limit := s.cfg.MaxBodyBytes
		if s.cfg.MaxPackageBytes > 0 && r.Method == http.MethodPost && r.URL.Path == "/v1/packages" {
			limit = s.cfg.MaxPackageBytes
		}
		r.Body = http.MaxBytesReader(rec, r.Body, limit)
		s.mux.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		httpRequests.WithLabelValues(route, strconv.Itoa(rec.code)).Inc()
		httpDuration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

// Unwrap lets http.ResponseController reach the connection (Flush for SSE).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
