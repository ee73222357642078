// Package userapi is the service of the outage, done right: a small user
// API and a background job that syncs user data, on a poolguard pool split
// into two partitions, "api" (with a guarantee) and "sync" (with a small
// maximum and a hard lease limit).
//
// It provides the HTTP handlers ([Handler]) and the service's life cycle
// ([Run]); the schema, the queries and the sync job, in the outage's buggy
// version and its fix, are the workload that poolguard's replay runs too.
// The command in the parent directory runs it.
package userapi
