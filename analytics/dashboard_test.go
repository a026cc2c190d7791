package analytics

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// Every panel of the Grafana dashboard runs a cookbook query, with the
// query parameters replaced by Grafana variables and macros; since the
// cookbook runs on chDB, so do the panels.
func TestGrafanaDashboardUsesCookbook(t *testing.T) {
	b, err := os.ReadFile("../deploy/grafana/learnstream.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title      string `json:"title"`
			Type       string `json:"type"`
			Datasource struct {
				Type string `json:"type"`
			} `json:"datasource"`
			Targets []struct {
				RawSQL     string `json:"rawSql"`
				Datasource struct {
					Type string `json:"type"`
				} `json:"datasource"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	cook := map[string]string{}
	for _, q := range loadCookbook(t) {
		_, body, _ := strings.Cut(q.sql, "\n")
		cook[strings.TrimSpace(body)] = q.name
	}
	unparam := strings.NewReplacer("${tenant:singlequote}", "{tenant:String}", "toDate($__fromTime)", "{from:Date}", "toDate($__toTime)", "{to:Date}")
	used := map[string]bool{}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if p.Datasource.Type != "grafana-clickhouse-datasource" || len(p.Targets) == 0 {
			t.Errorf("panel %q: want the grafana-clickhouse-datasource plugin and a query", p.Title)
			continue
		}
		for _, tg := range p.Targets {
			name, ok := cook[strings.TrimSpace(unparam.Replace(tg.RawSQL))]
			if !ok || tg.Datasource.Type != "grafana-clickhouse-datasource" {
				t.Errorf("panel %q runs a query that is not in the cookbook:\n%s", p.Title, tg.RawSQL)
			}
			used[name] = true
		}
	}
	if len(used) < 15 {
		t.Errorf("dashboard shows %d cookbook queries, want the key views (at least 15)", len(used))
	}
}
