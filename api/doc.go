// Package api serves learnstream over HTTP: the xAPI 1.0.3 LRS under
// /xapi/, health checks and Prometheus metrics. Every write becomes an event;
// every read comes from a projection.
package api
