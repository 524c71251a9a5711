package caddymodule

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// gradualMetrics are the plugin's Prometheus collectors. They are created
// once per process and registered into each config's registry, so that
// counters keep counting across config reloads instead of starting over or
// being registered twice.
var gradualMetrics struct {
	once       sync.Once
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	exceptions *prometheus.CounterVec
	percent    *prometheus.GaugeVec
	step       *prometheus.GaugeVec
	rollbacks  *prometheus.CounterVec
}

func initMetrics() {
	const ns, sub = "caddy", "gradual"
	m := &gradualMetrics
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "requests_total",
		Help: "Requests served by each version of each worker, by HTTP status code.",
	}, []string{"worker", "version", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: sub, Name: "request_duration_seconds",
		Help:    "Time each version of each worker took to serve a request.",
		Buckets: prometheus.DefBuckets,
	}, []string{"worker", "version"})
	m.exceptions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "exceptions_total",
		Help: "Requests that ended in an uncaught script exception, exceeded CPU time, or an upstream the proxy could not reach.",
	}, []string{"worker", "version"})
	m.percent = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "deployment_percent",
		Help: "Share of traffic each version of each worker gets in the active deployment, in percent.",
	}, []string{"worker", "version"})
	m.step = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "rollout_step",
		Help: "The canary's share of traffic, in percent, in each worker's automatic rollout (running, paused or ended).",
	}, []string{"worker"})
	m.rollbacks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "rollbacks_total",
		Help: "Automatic rollbacks of each worker's canary that this node decided.",
	}, []string{"worker"})
}

// registerMetrics registers the collectors into a config's registry.
func registerMetrics(reg prometheus.Registerer) error {
	gradualMetrics.once.Do(initMetrics)
	if reg == nil {
		return nil
	}
	m := &gradualMetrics
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.exceptions, m.percent, m.step, m.rollbacks} {
		// Several gradual handlers in one config share the registry.
		if err := reg.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			return err
		}
	}
	return nil
}

// versionMetrics caches one version's series so that a request costs a few
// atomic adds instead of label hashing and map look-ups.
type versionMetrics struct {
	worker, id string
	duration   prometheus.Observer
	exceptions prometheus.Counter
	// codes holds the requests_total counter per status code, created on
	// first use.
	codes [600]atomic.Pointer[prometheus.Counter]
}

func newVersionMetrics(worker, id string) *versionMetrics {
	gradualMetrics.once.Do(initMetrics)
	return &versionMetrics{
		worker:     worker,
		id:         id,
		duration:   gradualMetrics.duration.WithLabelValues(worker, id),
		exceptions: gradualMetrics.exceptions.WithLabelValues(worker, id),
	}
}

// observe records one request.
func (m *versionMetrics) observe(status int, seconds float64, exception bool) {
	if status < 0 || status >= len(m.codes) {
		status = 0
	}
	c := m.codes[status].Load()
	if c == nil {
		counter := gradualMetrics.requests.WithLabelValues(m.worker, m.id, strconv.Itoa(status))
		m.codes[status].CompareAndSwap(nil, &counter)
		c = m.codes[status].Load()
	}
	(*c).Inc()
	m.duration.Observe(seconds)
	if exception {
		m.exceptions.Inc()
	}
}

// deleteVersionMetrics drops every series of a version that is no longer
// configured, so dashboards do not show it forever.
func deleteVersionMetrics(worker, id string) {
	gradualMetrics.once.Do(initMetrics)
	labels := prometheus.Labels{"worker": worker, "version": id}
	gradualMetrics.requests.DeletePartialMatch(labels)
	gradualMetrics.duration.Delete(labels)
	gradualMetrics.exceptions.Delete(labels)
	gradualMetrics.percent.Delete(labels)
}
