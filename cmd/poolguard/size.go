package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/jackc/pgx/v5"
)

var sizeCmd = &command{
	name:    "size",
	summary: "share a server's connections among the replicas of every service that uses it",
	usage: `usage: poolguard size (--dsn DSN | --max-connections N) --service NAME:REPLICAS[:WEIGHT|:=MAXCONNS]... [flags]

Gives each replica of each service on one PostgreSQL server its MaxConns,
so that every replica of every service together, during a rolling
deployment too, never asks for more connections than the server allows.
One pool per service is assumed; partitions share their service's MaxConns.

The rules:
  available  = max_connections - superuser_reserved_connections
               - reserved_connections (PostgreSQL 16 and later) - --headroom
  during a rollout each service runs REPLICAS + ceil(REPLICAS x --surge)
  replicas (old and new pods at once)
  a service given :=MAXCONNS keeps it; the others share what is left in
  proportion to their WEIGHT (default 1), rounded down per replica
It warns where the steady or the rolling total exceeds the server, and
where one more replica of a service with a fixed MaxConns would. A service
sized by weight takes its share of what is left: after adding replicas,
run size again.

--service NAME:REPLICAS[:WEIGHT|:=MAXCONNS], repeated, for example
  --service userapi:6:3 --service reports:2:1 --service cron:1:=4
--partition SERVICE/NAME:GUARANTEED%[:MAX%], repeated, for example
  --partition userapi/api:80 --partition userapi/sync:0:10
  gives the partition's Guaranteed and Max as shares of its service's
  MaxConns (Max defaults to 100%).

With --dsn the server's settings are read from it (SHOW); --max-connections
and --reserved give them instead.

Exit status: 0 the plan fits; 1 it fits now but not during a rollout, or
not with one more replica of a service; 2 bad usage; 3 it does not fit at
all, or the server could not be read.

Flags:
` + dsnUsage + `  --max-connections N  the server's max_connections, instead of --dsn
  --reserved N       connections reserved for superusers and others (default 3,
                     PostgreSQL's superuser_reserved_connections)
  --headroom N       connections left for everything that is not a pool:
                     psql sessions, migrations, monitoring (default 5)
  --surge P          the rollout's surge, as a share of the replicas
                     (default 0.25, Kubernetes' maxSurge)
  --json             print the plan as JSON
`,
	setup: setupSize,
}

// sizeService is one service as the flags describe it.
type sizeService struct {
	Name       string          `json:"name"`
	Replicas   int             `json:"replicas"`
	Surge      int             `json:"surgeReplicas"`
	Weight     float64         `json:"weight,omitempty"`
	Fixed      bool            `json:"fixed"`
	MaxConns   int             `json:"maxConns"`
	Partitions []sizePartition `json:"partitions,omitempty"`
}

type sizePartition struct {
	Name       string  `json:"name"`
	Guaranteed int     `json:"guaranteed"`
	Max        int     `json:"max"`
	gShare     float64 // of MaxConns
	mShare     float64
}

// sizePlan is what size prints.
type sizePlan struct {
	MaxConnections int           `json:"maxConnections"`
	Reserved       int           `json:"reserved"`
	Headroom       int           `json:"headroom"`
	Available      int           `json:"available"`
	Steady         int           `json:"steady"`  // every replica's MaxConns
	Rollout        int           `json:"rollout"` // the same with each service's surge
	Services       []sizeService `json:"services"`
	Warnings       []string      `json:"warnings"`
	fits, rolls    bool
}

func setupSize(args []string, e *env) (func(context.Context) error, error) {
	fs := newFlagSet("size")
	var db dbFlags
	fs.StringVar(&db.dsn, "dsn", "", "")
	maxConns := fs.Int("max-connections", 0, "")
	reserved := fs.Int("reserved", -1, "")
	headroom := fs.Int("headroom", 5, "")
	surge := fs.Float64("surge", 0.25, "")
	asJSON := fs.Bool("json", false, "")
	var services, partitions []string
	fs.Func("service", "", func(s string) error { services = append(services, s); return nil })
	fs.Func("partition", "", func(s string) error { partitions = append(partitions, s); return nil })
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	switch {
	case len(pos) > 0:
		return nil, fmt.Errorf("size takes no arguments, got %q", pos)
	case len(services) == 0:
		return nil, errors.New("missing --service: name each service that uses the server, as NAME:REPLICAS[:WEIGHT|:=MAXCONNS]")
	case *maxConns < 0 || *headroom < 0 || *surge < 0 || *surge > 1:
		return nil, fmt.Errorf("--max-connections, --headroom must not be negative and --surge must be between 0 and 1")
	case *maxConns == 0 && db.dsn == "" && e.getenv(envDSN) == "":
		return nil, errors.New("missing --dsn or --max-connections: say which server, or how many connections it allows")
	}
	svcs, err := parseServices(services, *surge)
	if err != nil {
		return nil, err
	}
	if err := parsePartitions(svcs, partitions); err != nil {
		return nil, err
	}
	readServer := *maxConns == 0
	var cfg *pgx.ConnConfig
	if readServer {
		if cfg, err = db.connConfig(e); err != nil {
			return nil, err
		}
	}
	return func(ctx context.Context) error {
		mc, res := *maxConns, *reserved
		if readServer {
			var err error
			if mc, res, err = serverLimits(ctx, cfg, res); err != nil {
				return err
			}
		}
		if res < 0 {
			res = 3
		}
		plan := planSize(mc, res, *headroom, svcs)
		if *asJSON {
			if err := writeJSON(e.stdout, plan); err != nil {
				return err
			}
		} else {
			printPlan(e, plan)
		}
		switch {
		case !plan.fits:
			return errors.New("the plan does not fit the server: see the warnings")
		case !plan.rolls || len(plan.Warnings) > 0:
			return errTrouble
		}
		return nil
	}, nil
}

// parseServices reads the --service flags.
func parseServices(specs []string, surge float64) ([]sizeService, error) {
	seen := map[string]bool{}
	var out []sizeService
	for _, spec := range specs {
		parts := strings.Split(spec, ":")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
			return nil, fmt.Errorf("--service %q: want NAME:REPLICAS[:WEIGHT|:=MAXCONNS]", spec)
		}
		s := sizeService{Name: parts[0], Weight: 1}
		if seen[s.Name] {
			return nil, fmt.Errorf("--service %q: service %q is named twice", spec, s.Name)
		}
		seen[s.Name] = true
		n, err := strconv.Atoi(parts[1])
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--service %q: REPLICAS must be a whole number of at least 1", spec)
		}
		s.Replicas = n
		s.Surge = int(math.Ceil(float64(n) * surge))
		if len(parts) == 3 {
			if fixed, ok := strings.CutPrefix(parts[2], "="); ok {
				m, err := strconv.Atoi(fixed)
				if err != nil || m < 1 {
					return nil, fmt.Errorf("--service %q: MAXCONNS after = must be a whole number of at least 1", spec)
				}
				s.Fixed, s.MaxConns, s.Weight = true, m, 0
			} else {
				w, err := strconv.ParseFloat(parts[2], 64)
				if err != nil || w <= 0 || math.IsInf(w, 0) {
					return nil, fmt.Errorf("--service %q: WEIGHT must be a number above 0", spec)
				}
				s.Weight = w
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// parsePartitions reads the --partition flags onto their services.
func parsePartitions(svcs []sizeService, specs []string) error {
	for _, spec := range specs {
		name, rest, ok := strings.Cut(spec, ":")
		svc, part, ok2 := strings.Cut(name, "/")
		if !ok || !ok2 || svc == "" || part == "" {
			return fmt.Errorf("--partition %q: want SERVICE/NAME:GUARANTEED%%[:MAX%%]", spec)
		}
		i := -1
		for j := range svcs {
			if svcs[j].Name == svc {
				i = j
			}
		}
		if i < 0 {
			return fmt.Errorf("--partition %q: no --service %q", spec, svc)
		}
		g, m, _ := strings.Cut(rest, ":")
		p := sizePartition{Name: part, mShare: 1}
		var err error
		if p.gShare, err = percent(g); err != nil {
			return fmt.Errorf("--partition %q: GUARANTEED: %w", spec, err)
		}
		if m != "" {
			if p.mShare, err = percent(m); err != nil {
				return fmt.Errorf("--partition %q: MAX: %w", spec, err)
			}
		}
		if p.gShare > p.mShare {
			return fmt.Errorf("--partition %q: GUARANTEED is above MAX", spec)
		}
		svcs[i].Partitions = append(svcs[i].Partitions, p)
	}
	for _, s := range svcs {
		sum := 0.0
		for _, p := range s.Partitions {
			sum += p.gShare
		}
		if sum > 1 {
			return fmt.Errorf("the partitions of %q are guaranteed %.0f%% of its connections together, above 100%%", s.Name, 100*sum)
		}
	}
	return nil
}

func percent(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || v < 0 || v > 100 {
		return 0, fmt.Errorf("%q is not a percentage from 0 to 100", s)
	}
	return v / 100, nil
}

// planSize applies the rules of the command's usage.
func planSize(maxConns, reserved, headroom int, svcs []sizeService) sizePlan {
	plan := sizePlan{MaxConnections: maxConns, Reserved: reserved, Headroom: headroom, fits: true, rolls: true}
	plan.Available = maxConns - reserved - headroom
	left, weights := plan.Available, 0.0
	for _, s := range svcs {
		if s.Fixed {
			left -= s.MaxConns * (s.Replicas + s.Surge)
		} else {
			weights += s.Weight
		}
	}
	for i := range svcs {
		s := &svcs[i]
		if !s.Fixed {
			share := float64(max(left, 0)) * s.Weight / weights
			s.MaxConns = int(share) / (s.Replicas + s.Surge)
		}
		if s.MaxConns < max(1, len(s.Partitions)) {
			plan.fits = false
			plan.Warnings = append(plan.Warnings, fmt.Sprintf("%s: the server cannot give each of its %d replicas (%d during a rollout) the %d connections it needs at least",
				s.Name, s.Replicas, s.Replicas+s.Surge, max(1, len(s.Partitions))))
		}
		for j := range s.Partitions {
			p := &s.Partitions[j]
			p.Guaranteed = int(math.Floor(p.gShare * float64(s.MaxConns)))
			p.Max = max(1, int(math.Floor(p.mShare*float64(s.MaxConns))))
		}
		plan.Steady += s.MaxConns * s.Replicas
		plan.Rollout += s.MaxConns * (s.Replicas + s.Surge)
	}
	plan.Services = svcs
	switch {
	case plan.Steady > plan.Available:
		plan.fits = false
		plan.Warnings = append(plan.Warnings, fmt.Sprintf("the replicas may open %d connections; the server gives %d", plan.Steady, plan.Available))
	case plan.Rollout > plan.Available:
		plan.rolls = false
		plan.Warnings = append(plan.Warnings, fmt.Sprintf("during a rollout the replicas may open %d connections; the server gives %d", plan.Rollout, plan.Available))
	}
	// A service sized by weight shares the whole budget, so adding a
	// replica means running size again; a fixed MaxConns must fit as it is.
	for _, s := range svcs {
		if s.Fixed && plan.fits && plan.rolls && plan.Rollout+s.MaxConns > plan.Available {
			plan.Warnings = append(plan.Warnings, fmt.Sprintf("one more replica of %s (MaxConns %d) would exceed the server during a rollout: run size again first", s.Name, s.MaxConns))
		}
	}
	return plan
}

func printPlan(e *env, plan sizePlan) {
	fmt.Fprintf(e.stdout, "server: max_connections %d - reserved %d - headroom %d = %d available\n\n",
		plan.MaxConnections, plan.Reserved, plan.Headroom, plan.Available)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tREPLICAS\tROLLOUT\tMAXCONNS\tSTEADY\tROLLOUT TOTAL")
	for _, s := range plan.Services {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", s.Name, s.Replicas, s.Replicas+s.Surge, s.MaxConns,
			s.MaxConns*s.Replicas, s.MaxConns*(s.Replicas+s.Surge))
		for _, p := range s.Partitions {
			fmt.Fprintf(tw, "  %s/%s\t\t\tGuaranteed %d, Max %d\t\t\n", s.Name, p.Name, p.Guaranteed, p.Max)
		}
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "\ntotal: %d connections, %d during a rollout, of %d available (%d left)\n",
		plan.Steady, plan.Rollout, plan.Available, plan.Available-plan.Rollout)
	for _, w := range plan.Warnings {
		fmt.Fprintln(e.stdout, "warning:", w)
	}
}

// serverLimits reads max_connections and the connections reserved for
// superusers (and, from PostgreSQL 16, for pg_use_reserved_connections)
// from the server; reserved, if not negative, is the caller's instead.
func serverLimits(ctx context.Context, cfg *pgx.ConnConfig, reserved int) (int, int, error) {
	conn, err := connect(ctx, cfg)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close(ctx)
	var maxConns, super, other int
	err = conn.QueryRow(ctx, `SELECT current_setting('max_connections')::int,
		current_setting('superuser_reserved_connections')::int,
		coalesce(current_setting('reserved_connections', true), '0')::int`).Scan(&maxConns, &super, &other)
	if err != nil {
		return 0, 0, fmt.Errorf("read the server's max_connections: %w", err)
	}
	if reserved < 0 {
		reserved = super + other
	}
	return maxConns, reserved, nil
}
