package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/poolguard/poolguard/admin"
)

var topCmd = &command{
	name:    "top",
	summary: "a live view of the partitions and the top holders",
	usage: `usage: poolguard top URL [flags]

Shows the partitions of the pool served by the admin handler at URL and the
call sites holding the most connections, refreshed every --interval until
interrupted. On a terminal each frame replaces the last; otherwise frames
are printed one after the other, as plain text.

Flags:
  --interval D       time between two frames (default 2s)
  --once             print one frame and exit
  --holders N        call sites to show (default 10)
  --json             print each frame as one line of JSON
` + clientUsage,
	setup: setupTop,
}

func setupTop(args []string, e *env) (func(context.Context) error, error) {
	fs := newFlagSet("top")
	var cf clientFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "")
	once := fs.Bool("once", false, "")
	interval := fs.Duration("interval", 2*time.Second, "")
	holders := fs.Int("holders", 10, "")
	c, err := parseClientArgs(fs, args, &cf, e, "top URL")
	if err != nil {
		return nil, err
	}
	if err := positive("interval", *interval); err != nil {
		return nil, err
	}
	if *holders < 1 {
		return nil, fmt.Errorf("--holders must be at least 1, got %d", *holders)
	}
	return func(ctx context.Context) error {
		t := &top{c: c, e: e, json: *asJSON, holders: *holders}
		// The first frame's error ends the command: a wrong URL or token
		// will not fix itself. Later ones are shown, and the view goes on
		// while the service restarts.
		snap, err := c.snapshot(ctx)
		if err != nil {
			return err
		}
		if err := t.frame(snap, nil); err != nil || *once {
			return err
		}
		tick := time.NewTicker(*interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil // interrupted: the normal way to stop
			case <-tick.C:
			}
			snap, err := c.snapshot(ctx)
			if ctx.Err() != nil {
				return nil
			}
			if err := t.frame(snap, err); err != nil {
				return err
			}
		}
	}, nil
}

type top struct {
	c       *client
	e       *env
	json    bool
	holders int
	frames  int
}

// topFrame is one frame as JSON.
type topFrame struct {
	Time       time.Time         `json:"time"`
	Partitions []partitionStatus `json:"partitions,omitempty"`
	Holders    []admin.CallSite  `json:"holders,omitempty"`
	Error      string            `json:"error,omitempty"`
}

func (t *top) frame(snap *admin.Snapshot, ferr error) error {
	t.frames++
	f := topFrame{Time: time.Now()}
	if ferr != nil {
		f.Error = ferr.Error()
	} else {
		st := newStatus(snap)
		f.Time, f.Partitions = snap.Time, st.Partitions
		f.Holders = snap.CallSites[:min(len(snap.CallSites), t.holders)]
	}
	w := t.e.stdout
	if t.json {
		return writeJSONLine(w, f)
	}
	switch {
	case t.e.tty:
		fmt.Fprint(w, "\x1b[H\x1b[2J") // home, clear: the frame replaces the last
	case t.frames > 1:
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "poolguard top %s  %s\n\n", t.c.base, f.Time.Format(time.TimeOnly))
	if f.Error != "" {
		fmt.Fprintln(w, "error:", f.Error)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tIN USE\tMAX\tWAITING\tOLDEST\tSUSPECTS\tPROVEN\tREFUSED\tSTATE")
	for _, p := range f.Partitions {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%d\t%d\t%d\t%s\n", p.Name, bar(p.InUse, p.Max), p.Max, p.Waiting,
			age(p.OldestLeaseSeconds), p.Suspects, p.LeaksProven, p.Refused, p.state())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(f.Holders) == 0 {
		fmt.Fprintln(w, "no lease held")
		return nil
	}
	fmt.Fprintln(tw, "HELD\tPARTITION\tCALL SITE\tOLDEST\tFUNCTION")
	for _, h := range f.Holders {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", h.Count, h.Partition, h.CallSite, age(h.OldestSeconds), h.Function)
	}
	return tw.Flush()
}

// bar draws n of max as a ten-character gauge followed by the count.
func bar(n, max int) string {
	const width = 10
	filled := 0
	if max > 0 {
		filled = min(width, (n*width+max-1)/max)
	}
	b := make([]rune, width)
	for i := range b {
		b[i] = '.'
		if i < filled {
			b[i] = '#'
		}
	}
	return fmt.Sprintf("%s %d", string(b), n)
}

// writeJSONLine writes v as one line, so that each frame is one record.
func writeJSONLine(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}
