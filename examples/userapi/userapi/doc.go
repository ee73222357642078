// Package userapi is the service of the outage, done right: a small user
// API and a background job that syncs user data, on a poolguard pool split
// into two partitions, "api" (with a guarantee) and "sync" (with a small
// maximum and a hard lease limit).
//
// It provides the schema ([Migrate], [Seed]), the queries ([Store]), the
// HTTP handlers ([Handler]), the sync job ([Job]) in two versions, the
// outage's bug ported to Go ([SyncUserBuggy]) and its fix ([SyncUser]),
// and the service's life cycle ([Run]). The command in the parent
// directory runs it; poolguard's replay drives the same code.
package userapi
