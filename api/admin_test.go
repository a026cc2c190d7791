package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/learnstream/learnstream/api"
)

// fakeAdmin is a process with one projection whose counts are per tenant.
type fakeAdmin struct{ replays []string }

func (a *fakeAdmin) Projections(_ context.Context, tenant string, counts bool) ([]api.ProjectionStatus, error) {
	st := api.ProjectionStatus{Name: "statements", Generation: 2, Topic: "learnstream.statements.v1", Lag: 7,
		Partitions: []api.PartitionInfo{{Partition: 0, Next: 10, End: 17, Lag: 7}}}
	if counts {
		st.Counts = map[string]int64{"statements": int64(len(tenant))}
	}
	return []api.ProjectionStatus{st}, nil
}

func (a *fakeAdmin) Replay(_ context.Context, name string) (api.ProjectionStatus, error) {
	if name != "statements" {
		return api.ProjectionStatus{}, api.ErrUnknownProjection
	}
	a.replays = append(a.replays, name)
	return api.ProjectionStatus{Name: name, Replay: &api.ReplayStatus{State: "running"}}, nil
}

// TestAdminEndpointsByScope runs every admin endpoint with a tenant's
// "all" credential and with an operator credential: a tenant administers
// its own tenant only, and never the projections every tenant shares.
func TestAdminEndpointsByScope(t *testing.T) {
	adm := &fakeAdmin{}
	f := newFixture(t, func(c *api.Config) { c.Admin = adm })
	ctx := context.Background()
	// "victim" belongs to t2; "mine" to t1 (the tenant admin's tenant).
	for _, k := range []struct{ key, tenant string }{{"victim", "t2"}, {"victim2", "t2"}, {"mine", "t1"}} {
		if _, err := f.creds.Put(ctx, k.key, k.key+"-secret", k.key, k.tenant, []string{"statements/write"}); err != nil {
			t.Fatal(err)
		}
	}
	tenantAdmin := [2]string{"admin", "admin-secret"} // t1, scope all
	operator := [2]string{"op", "op-secret"}          // t1, scopes all + operator
	reader := [2]string{"reader", "reader-secret"}    // t1, statements/read
	for _, tc := range []struct {
		name         string
		who          [2]string
		method, path string
		body         string
		want         int
		// has and hasNot are substrings the answer must (not) contain.
		has, hasNot []string
	}{
		{"tenant lists projections: own counts, no offsets", tenantAdmin, "GET", "/v1/admin/projections", "", 200,
			[]string{`"statements":2`}, []string{"partitions", "lag", "next_offset", "topic"}},
		{"tenant reads another tenant's counts", tenantAdmin, "GET", "/v1/admin/projections?tenant=t22", "", 403, nil, nil},
		{"operator lists projections with offsets", operator, "GET", "/v1/admin/projections", "", 200,
			[]string{"partitions", `"lag":7`, `"next_offset":10`}, nil},
		{"operator reads any tenant's counts", operator, "GET", "/v1/admin/projections?tenant=t22", "", 200,
			[]string{`"statements":3`}, nil},
		{"reader lists projections", reader, "GET", "/v1/admin/projections", "", 403, nil, nil},
		{"operator lists positions without counts", operator, "GET", "/v1/admin/projections?counts=false", "", 200,
			[]string{`"next_offset":10`}, []string{"counts"}},
		{"counts neither true nor false", operator, "GET", "/v1/admin/projections?counts=some", "", 400, []string{"counts"}, nil},

		{"tenant replays a shared projection", tenantAdmin, "POST", "/v1/admin/projections/statements/replay", "", 403, nil, nil},
		{"reader replays", reader, "POST", "/v1/admin/projections/statements/replay", "", 403, nil, nil},
		{"operator replays", operator, "POST", "/v1/admin/projections/statements/replay", "", 202, []string{"running"}, nil},
		{"operator replays an unknown projection", operator, "POST", "/v1/admin/projections/nope/replay", "", 404, nil, nil},

		{"tenant creates in its tenant", tenantAdmin, "POST", "/v1/admin/credentials", `{"key":"t1-new","scopes":["all"]}`, 201, []string{`"tenant":"t1"`}, nil},
		{"tenant creates in another tenant", tenantAdmin, "POST", "/v1/admin/credentials", `{"tenant":"t2","scopes":["all"]}`, 403, nil, nil},
		{"tenant grants operator", tenantAdmin, "POST", "/v1/admin/credentials", `{"scopes":["all","operator"]}`, 403, nil, nil},
		{"tenant grants privacy", tenantAdmin, "POST", "/v1/admin/credentials", `{"scopes":["privacy"]}`, 403, []string{"privacy"}, nil},
		{"operator grants privacy", operator, "POST", "/v1/admin/credentials", `{"key":"t1-dpo","scopes":["privacy"]}`, 201, []string{`"privacy"`}, nil},
		{"tenant takes over another tenant's key", tenantAdmin, "POST", "/v1/admin/credentials", `{"key":"victim","secret":"taken-over","scopes":["all"]}`, 409, nil, nil},
		{"tenant replaces its tenant's operator key", tenantAdmin, "POST", "/v1/admin/credentials", `{"key":"op","secret":"taken-over","scopes":["all"]}`, 403, nil, nil},
		{"reader creates", reader, "POST", "/v1/admin/credentials", `{"scopes":["statements/read"]}`, 403, nil, nil},
		{"operator creates in another tenant", operator, "POST", "/v1/admin/credentials", `{"tenant":"t2","scopes":["all"]}`, 201, []string{`"tenant":"t2"`}, nil},
		{"operator grants operator", operator, "POST", "/v1/admin/credentials", `{"key":"op2","scopes":["operator"]}`, 201, nil, nil},

		{"tenant lists its credentials", tenantAdmin, "GET", "/v1/admin/credentials", "", 200, []string{`"mine"`, `"admin"`}, []string{"victim", "hash", "salt"}},
		{"tenant lists another tenant's", tenantAdmin, "GET", "/v1/admin/credentials?tenant=t2", "", 403, nil, nil},
		{"operator lists another tenant's", operator, "GET", "/v1/admin/credentials?tenant=t2", "", 200, []string{"victim"}, []string{`"mine"`, "hash"}},
		{"operator lists every tenant's", operator, "GET", "/v1/admin/credentials?tenant=*", "", 200, []string{"victim", `"mine"`}, nil},
		{"reader lists", reader, "GET", "/v1/admin/credentials", "", 403, nil, nil},

		{"tenant revokes another tenant's credential", tenantAdmin, "DELETE", "/v1/admin/credentials/victim", "", 404, nil, nil},
		{"tenant revokes an unknown credential", tenantAdmin, "DELETE", "/v1/admin/credentials/nobody", "", 404, nil, nil},
		{"reader revokes", reader, "DELETE", "/v1/admin/credentials/mine", "", 403, nil, nil},
		{"tenant revokes its tenant's operator credential", tenantAdmin, "DELETE", "/v1/admin/credentials/op", "", 403, nil, nil},
		{"tenant revokes its own", tenantAdmin, "DELETE", "/v1/admin/credentials/mine", "", 204, nil, nil},
		{"operator revokes another tenant's", operator, "DELETE", "/v1/admin/credentials/victim2", "", 204, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := f.do(t, req{method: tc.method, path: tc.path, body: tc.body, user: tc.who[0], pass: tc.who[1]})
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, b)
			}
			for _, s := range tc.has {
				if !strings.Contains(string(b), s) {
					t.Errorf("answer lacks %s: %s", s, b)
				}
			}
			for _, s := range tc.hasNot {
				if strings.Contains(string(b), s) {
					t.Errorf("answer shows %s: %s", s, b)
				}
			}
		})
	}
	if len(adm.replays) != 1 {
		t.Errorf("replays started: %v, want only the operator's", adm.replays)
	}
	// What the table did is what authentication now says.
	for _, tc := range []struct {
		user string
		want int
	}{{"victim", 200}, {"mine", 401}, {"victim2", 401}} {
		resp, b := f.do(t, req{method: "POST", path: "/xapi/statements", body: good, user: tc.user, pass: tc.user + "-secret"})
		if resp.StatusCode != tc.want {
			t.Errorf("%s after the table: %d, want %d: %s", tc.user, resp.StatusCode, tc.want, b)
		}
	}
	var listed []map[string]any
	_, b := f.do(t, req{method: "GET", path: "/v1/admin/credentials?tenant=t2", user: "op", pass: "op-secret"})
	json.Unmarshal(b, &listed)
	for _, c := range listed {
		if c["key"] == "victim2" {
			t.Errorf("revoked credential still listed: %s", b)
		}
	}
}
