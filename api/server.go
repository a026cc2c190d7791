package api

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/learnstream/learnstream/domain/event"
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
}

// Server is the HTTP front of learnstream.
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
}

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
	s.routes()
	return s
}

func (s *Server) routes() {
	read := []string{"all", "all/read", "statements/read"}
	write := []string{"all", "statements/write"}
	s.opsRoutes()
	s.mux.HandleFunc("GET /xapi/about", s.about)
	s.mux.HandleFunc("POST /xapi/statements", s.xapi(s.requireAuth(s.postStatements, write...)))
	s.mux.HandleFunc("PUT /xapi/statements", s.xapi(s.requireAuth(s.putStatement, write...)))
	s.mux.HandleFunc("GET /xapi/statements", s.xapi(s.requireAuth(s.getStatements, read...)))
	s.v1Routes()
}

// opsRoutes are served by every process, whatever its roles.
func (s *Server) opsRoutes() {
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.Handler())
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
		r.Body = http.MaxBytesReader(rec, r.Body, s.cfg.MaxBodyBytes)
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
