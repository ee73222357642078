// Package users is the outage's workload, in one place for everything that
// runs it: the users schema ([Migrate], [Seed]), the service's queries
// ([Store]), its pool split into partitions ([Configure]), and the sync
// job ([Job]) in two versions: the outage's bug ported to Go
// ([SyncUserBuggy]) and its fix ([SyncUser]).
//
// The example service (examples/userapi), the step-by-step example
// (examples/outage) and the incident replay (package replay) all run this
// code, so the bug is written once.
package users
