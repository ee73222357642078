package users

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poolguard/poolguard"
)

// Partition names of the service's pool.
const (
	PartitionAPI  = "api"  // the HTTP API, with a guaranteed share
	PartitionSync = "sync" // the background sync job, with a small maximum
)

// Configure splits cfg's pool into the service's partitions: "sync" may
// hold a tenth of MaxConns (at least one) and revokes a lease held longer
// than syncMaxHold (zero: no limit); "api" is guaranteed the rest, so the
// job can never starve it.
func Configure(cfg *poolguard.Config, syncMaxHold time.Duration) error {
	if cfg.MaxConns < 2 {
		return fmt.Errorf("users: the pool needs at least 2 connections (one per partition), got MaxConns=%d", cfg.MaxConns)
	}
	syncMax := max(1, cfg.MaxConns/10)
	cfg.Partitions = []poolguard.PartitionConfig{
		{Name: PartitionAPI, Guaranteed: cfg.MaxConns - syncMax},
		{Name: PartitionSync, Max: syncMax, MaxHold: syncMaxHold},
	}
	return nil
}

// User is a row of the users table.
type User struct {
	ID        int64      `json:"id"`
	Email     string     `json:"email"`
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	SyncedAt  *time.Time `json:"synced_at,omitempty"`
}

// ErrValidation is the outage's DataValidationError: a user whose data is
// malformed.
var ErrValidation = errors.New("invalid user")

// ErrNotFound means no user has the requested ID.
var ErrNotFound = errors.New("user not found")

// Validate checks the fields a client may set.
func Validate(u User) error {
	switch {
	case !strings.Contains(u.Email, "@"):
		return fmt.Errorf("%w: email %q has no @", ErrValidation, u.Email)
	case strings.TrimSpace(u.Name) == "":
		return fmt.Errorf("%w: name is empty", ErrValidation)
	case len(u.Email) > 254 || len(u.Name) > 200:
		return fmt.Errorf("%w: email is limited to 254 bytes and name to 200", ErrValidation)
	}
	return nil
}

// userColumns are the columns ScanUser reads, in order.
const userColumns = "id, email, name, created_at, updated_at, synced_at"

// SelectUser is the query that reads one user by ID.
const SelectUser = "SELECT " + userColumns + " FROM users WHERE id = $1"

// ScanUser reads a row of userColumns (as SelectUser returns) into a User.
// A missing row gives ErrNotFound. Any row type with Scan fits, *sql.Row
// included.
func ScanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.CreatedAt, &u.UpdatedAt, &u.SyncedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	return u, err
}

// Store is the API's use of the queries: on the "api" partition, with the
// client's input validated first.
type Store struct {
	q *Queries
}

// NewStore returns a Store on pool's "api" partition.
func NewStore(pool *poolguard.Pool) *Store {
	return &Store{q: New(pool.Partition(PartitionAPI))}
}

// List returns up to limit users with IDs above after, in ID order.
func (s *Store) List(ctx context.Context, after int64, limit int32) ([]User, error) {
	return s.q.ListUsers(ctx, ListUsersParams{After: after, Limit: limit})
}

// Get returns the user with the given ID, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id int64) (User, error) {
	return s.q.GetUser(ctx, id)
}

// Create validates u and inserts it, returning the stored user.
func (s *Store) Create(ctx context.Context, u User) (User, error) {
	if err := Validate(u); err != nil {
		return User{}, err
	}
	return s.q.CreateUser(ctx, CreateUserParams{Email: u.Email, Name: u.Name})
}

// Update validates u and replaces the email and name of user id.
func (s *Store) Update(ctx context.Context, id int64, u User) (User, error) {
	if err := Validate(u); err != nil {
		return User{}, err
	}
	return s.q.UpdateUser(ctx, UpdateUserParams{ID: id, Email: u.Email, Name: u.Name})
}
