package grafana_test

import (
	"encoding/json"
	"fmt"
	"log"

	"github.com/poolguard/poolguard/deploy/grafana"
)

func ExampleDashboard() {
	d, err := grafana.Dashboard()
	if err != nil {
		log.Fatal(err)
	}
	// json.Marshal(d) is the JSON model that Grafana imports.
	if _, err := json.Marshal(d); err != nil {
		log.Fatal(err)
	}
	for _, p := range d.Panels {
		if p.RowPanel != nil {
			fmt.Println(*p.RowPanel.Title)
		}
	}
	// Output:
	// Connections
	// Time
	// Leaks
}
