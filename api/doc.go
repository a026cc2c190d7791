// Package api serves learnstream over HTTP: the xAPI LRS under /xapi/
// (xAPI 1.0.3 and 2.0.0, chosen per request by X-Experience-API-Version), health checks and Prometheus metrics. Every write becomes an event;
// every read comes from a projection.
package api
