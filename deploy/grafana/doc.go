// Package grafana builds poolguard's Grafana dashboard, poolguard.json:
// per pool partition, connections in use against the limit and the in-use
// floor against yesterday's, waiting callers, wait and use time quantiles,
// leaks, reclaims, refused acquires and the oldest lease's age.
//
// Dashboard builds it with the Grafana Foundation SDK; poolguard.json is
// its output, for importing into Grafana, and is regenerated with
//
//	go test ./deploy/grafana -update
//
// Its queries use only metrics that package prom exports and recording
// rules that deploy/rules defines, as its tests check.
package grafana
