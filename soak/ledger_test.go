package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// numAccounts is the number of accounts the ledger's writes spread over:
// few enough that transactions contend for their rows.
const numAccounts = 16

// schema is the ledger: rows with unique ids, grouped by the write
// (txid) that inserted them, and a running total per account that every
// write but a copy updates in the same transaction.
const schema = `
CREATE TABLE ledger (
	id      bigint PRIMARY KEY,
	txid    bigint NOT NULL,
	account int    NOT NULL,
	amount  bigint NOT NULL,
	src     text   NOT NULL
);
CREATE INDEX ON ledger (txid);
CREATE TABLE accounts (
	account int    PRIMARY KEY,
	total   bigint NOT NULL DEFAULT 0,
	n       bigint NOT NULL DEFAULT 0
);
INSERT INTO accounts (account) SELECT generate_series(0, 15);
`

// outcome is what the workload was told about a write.
type outcome int

const (
	pending   outcome = iota // not reported yet
	committed                // reported committed: must be in the ledger
	failed                   // reported failed or never committed: must not be
	unknown                  // the connection broke during COMMIT: either
)

// write is one transaction's rows, as the workload meant them.
type write struct {
	txid    int64
	account int
	src     string
	ids     []int64
	amounts []int64
	outcome outcome
}

func (w *write) sum() int64 {
	var s int64
	for _, a := range w.amounts {
		s += a
	}
	return s
}

// ledger records every write the workload attempted and its outcome.
type ledger struct {
	nextID, nextTx atomic.Int64

	mu     sync.Mutex
	writes map[int64]*write
}

func newLedger() *ledger { return &ledger{writes: map[int64]*write{}} }

// newWrite plans a write of one to three rows to a random account.
func (l *ledger) newWrite(src string) *write {
	w := &write{txid: l.nextTx.Add(1), account: rand.IntN(numAccounts), src: src}
	for range 1 + rand.IntN(3) {
		w.ids = append(w.ids, l.nextID.Add(1))
		w.amounts = append(w.amounts, 1+rand.Int64N(100))
	}
	l.mu.Lock()
	l.writes[w.txid] = w
	l.mu.Unlock()
	return w
}

// settle records the outcome the workload was told.
func (l *ledger) settle(w *write, o outcome) {
	l.mu.Lock()
	w.outcome = o
	l.mu.Unlock()
}

// q is what a write's statements run on: a transaction, or a batch.
type q interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

const (
	insertSQL = "INSERT INTO ledger (id, txid, account, amount, src) VALUES ($1, $2, $3, $4, $5)"
	totalSQL  = "UPDATE accounts SET total = total + $1, n = n + $2 WHERE account = $3"
)

// apply runs the write's statements on tx.
func (w *write) apply(ctx context.Context, tx q) error {
	for i, id := range w.ids {
		if _, err := tx.Exec(ctx, insertSQL, id, w.txid, w.account, w.amounts[i], w.src); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, totalSQL, w.sum(), len(w.ids), w.account)
	return err
}

// queue adds the write's statements to a batch.
func (w *write) queue(b *pgx.Batch) {
	for i, id := range w.ids {
		b.Queue(insertSQL, id, w.txid, w.account, w.amounts[i], w.src)
	}
	b.Queue(totalSQL, w.sum(), len(w.ids), w.account)
}

// copyRows returns the write's rows for CopyFrom. A copy does not update
// the running totals.
func (w *write) copyRows() pgx.CopyFromSource {
	rows := make([][]any, len(w.ids))
	for i, id := range w.ids {
		rows[i] = []any{id, w.txid, w.account, w.amounts[i], w.src}
	}
	return pgx.CopyFromRows(rows)
}

var ledgerColumns = []string{"id", "txid", "account", "amount", "src"}

// ledgerFigures are what the final check of the ledger counted.
type ledgerFigures struct {
	rows                          int64
	committed, failed, unknown    int
	unknownPresent, unknownAbsent int
}

// check compares the ledger on the server with what the workload was
// told, and returns the problems found.
func (l *ledger) check(ctx context.Context, conn *pgx.Conn) (ledgerFigures, []string) {
	var f ledgerFigures
	var problems []string
	report := func(format string, args ...any) {
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	type found struct {
		n, sum  int64
		account int
		ids     map[int64]bool
	}
	present := map[int64]*found{}
	rows, err := conn.Query(ctx, "SELECT id, txid, account, amount FROM ledger")
	if err != nil {
		return f, []string{fmt.Sprintf("read the ledger: %v", err)}
	}
	for rows.Next() {
		var id, txid, amount int64
		var account int
		if err := rows.Scan(&id, &txid, &account, &amount); err != nil {
			return f, []string{fmt.Sprintf("read the ledger: %v", err)}
		}
		p := present[txid]
		if p == nil {
			p = &found{account: account, ids: map[int64]bool{}}
			present[txid] = p
		}
		p.n++
		p.sum += amount
		p.ids[id] = true
		f.rows++
	}
	if err := rows.Err(); err != nil {
		return f, []string{fmt.Sprintf("read the ledger: %v", err)}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	var totals, counts [numAccounts]int64
	for txid, p := range present {
		w := l.writes[txid]
		if w == nil {
			report("write %d is in the ledger but was never attempted", txid)
			continue
		}
		whole := p.n == int64(len(w.ids)) && p.sum == w.sum() && p.account == w.account
		for _, id := range w.ids {
			whole = whole && p.ids[id]
		}
		if !whole {
			report("write %d (%s) is in the ledger in part or changed: %d rows summing %d, want %d rows summing %d",
				txid, w.src, p.n, p.sum, len(w.ids), w.sum())
		}
		if w.src != "copy" {
			totals[w.account] += p.sum
			counts[w.account] += p.n
		}
	}
	for txid, w := range l.writes {
		_, in := present[txid]
		switch w.outcome {
		case committed:
			f.committed++
			if !in {
				report("write %d (%s) was reported committed but is not in the ledger: lost", txid, w.src)
			}
		case failed:
			f.failed++
			if in {
				report("write %d (%s) was reported failed but is in the ledger", txid, w.src)
			}
		case unknown:
			f.unknown++
			if in {
				f.unknownPresent++
			} else {
				f.unknownAbsent++
			}
		case pending:
			report("write %d (%s) has no outcome: the workload never heard back", txid, w.src)
		}
	}
	trows, err := conn.Query(ctx, "SELECT account, total, n FROM accounts ORDER BY account")
	if err != nil {
		return f, append(problems, fmt.Sprintf("read the totals: %v", err))
	}
	seen := 0
	for trows.Next() {
		var account int
		var total, n int64
		if err := trows.Scan(&account, &total, &n); err != nil {
			return f, append(problems, fmt.Sprintf("read the totals: %v", err))
		}
		seen++
		if account < 0 || account >= numAccounts {
			report("unexpected account %d", account)
			continue
		}
		if total != totals[account] || n != counts[account] {
			report("account %d: running total %d over %d rows, but its ledger rows sum to %d over %d",
				account, total, n, totals[account], counts[account])
		}
	}
	if err := trows.Err(); err != nil {
		return f, append(problems, fmt.Sprintf("read the totals: %v", err))
	}
	if seen != numAccounts {
		report("%d accounts, want %d", seen, numAccounts)
	}
	return f, problems
}
