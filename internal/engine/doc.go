// Package engine is poolguard's pool engine: slots, partitions, wait queues
// and lease records, with no knowledge of PostgreSQL.
//
// The engine decides who may hold a connection and when; the caller creates
// and closes the physical resources. A lease that takes an idle resource of
// its partition, and its plain release, take no lock while nobody waits
// and no other partition's guarantee is at stake; every other decision is
// made under one mutex, so the admission rule (a hard global cap,
// per-partition guarantees and maximums) holds. The lease state of each
// slot is a single atomic word, so that a stale handle can never touch a
// connection that has since been given to someone else.
package engine
