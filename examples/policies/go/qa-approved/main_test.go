package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kubectl-promote/kubectl-promote/sdk/go/policy"
)

// caseFile is the `kubectl promote policy test` case format (docs/policies.md, "Testing").
type caseFile struct {
	Description string          `json:"description"`
	Settings    json.RawMessage `json:"settings"`
	Request     json.RawMessage `json:"request"`
	Expect      struct {
		Decision          *policy.Verdict `json:"decision"`
		Reasons           []string        `json:"reasons"`
		RequiredApprovals []string        `json:"requiredApprovals"`
		Warnings          []string        `json:"warnings"`
		SettingsValid     *bool           `json:"settingsValid"`
	} `json:"expect"`
}

// run drives main's protocol natively, as `go run . OP < stdin` would.
func run(t *testing.T, op string, stdin []byte) (int, []byte, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := policy.RunWith([]string{"policy", op}, bytes.NewReader(stdin), &out, &errOut, evaluate, validateSettings)
	return code, out.Bytes(), errOut.String()
}

func codes(d policy.Decision) []string {
	var out []string
	for _, r := range d.Reasons {
		out = append(out, r.Code)
	}
	sort.Strings(out)
	return out
}

func set(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}

// The Rust built-in's cases (policies/cases/qa-approved, linked here as cases/): the Go module
// must decide every one of them the same way. `kubectl promote policy test` runs the same
// files against the built module in the sandbox.
func TestSharedCases(t *testing.T) {
	files, err := filepath.Glob("cases/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases/*.json (cases/ links to policies/cases/qa-approved): %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var c caseFile
			if err := json.Unmarshal(raw, &c); err != nil {
				t.Fatal(err)
			}
			if len(c.Settings) == 0 {
				c.Settings = json.RawMessage("{}")
			}
			if c.Expect.SettingsValid != nil {
				code, out, stderr := run(t, "validate-settings", c.Settings)
				var v policy.SettingsValidation
				if code != 0 || json.Unmarshal(out, &v) != nil || v.Valid != *c.Expect.SettingsValid {
					t.Errorf("%s: validate-settings exit %d %s %s", c.Description, code, out, stderr)
				}
			}
			if c.Expect.Decision == nil {
				return
			}
			var req map[string]json.RawMessage
			if err := json.Unmarshal(c.Request, &req); err != nil {
				t.Fatal(err)
			}
			req["settings"] = c.Settings
			in, _ := json.Marshal(req)
			code, out, stderr := run(t, "evaluate", in)
			if code != 0 {
				t.Fatalf("%s: exit %d: %s", c.Description, code, stderr)
			}
			var d policy.Decision
			if err := json.Unmarshal(out, &d); err != nil {
				t.Fatal(err)
			}
			if d.Decision != *c.Expect.Decision {
				t.Errorf("%s: decision %s %v, want %s", c.Description, d.Decision, d.Reasons, *c.Expect.Decision)
			}
			if c.Expect.Reasons != nil && strings.Join(codes(d), ",") != strings.Join(set(c.Expect.Reasons), ",") {
				t.Errorf("%s: reasons %v, want %v", c.Description, codes(d), c.Expect.Reasons)
			}
			if c.Expect.RequiredApprovals != nil {
				var ids []string
				for _, a := range d.RequiredApprovals {
					ids = append(ids, a.ID)
				}
				if strings.Join(set(ids), ",") != strings.Join(set(c.Expect.RequiredApprovals), ",") {
					t.Errorf("%s: required approvals %v, want %v", c.Description, ids, c.Expect.RequiredApprovals)
				}
			}
			for _, w := range c.Expect.Warnings {
				if !strings.Contains(strings.Join(d.Warnings, "\n"), w) {
					t.Errorf("%s: no warning contains %q: %v", c.Description, w, d.Warnings)
				}
			}
		})
	}
}

// approval is one record of the table below.
type approval struct {
	verdict, version string
	images           map[string]policy.ImageRef
	note             *string
}

func ref(tag string, digest ...string) policy.ImageRef {
	r := policy.ImageRef{Tag: policy.Ptr(tag)}
	if len(digest) > 0 {
		r.Digest = policy.Ptr(digest[0])
	}
	return r
}

// request builds a promotion of cart and web to v1.0.1 from staging.
func request(settings string, from *string, to map[string]policy.ImageRef, staging map[string]policy.ImageRef, records ...approval) policy.EvaluationRequest {
	req := policy.EvaluationRequest{
		APIVersion: policy.APIVersion, Kind: "EvaluationRequest", Operation: policy.OperationPromote,
		Settings: json.RawMessage(settings),
		Promotion: &policy.Promotion{Environment: "prod", From: from, Version: "v1.0.1", Mode: "pr",
			RequestedBy: policy.Actor{Name: policy.Ptr("Ana")}},
		Environments: map[string]policy.Environment{"staging": {Version: "v1.0.1", Images: staging}},
		Context:      policy.Context{Now: "2026-11-26T11:00:00Z", PromoteVersion: "0.1.0"},
	}
	for _, name := range []string{"cart", "web"} {
		if r, ok := to[name]; ok {
			req.Promotion.Images = append(req.Promotion.Images, policy.ImageChange{Name: name, From: ref("v1.0.0"), To: r})
		}
	}
	for i, a := range records {
		req.Approvals = append(req.Approvals, policy.ApprovalRecord{
			Environment: "staging", Version: a.version, Role: "qa", Verdict: a.verdict, Images: a.images,
			By: policy.Approver{Name: policy.Ptr("Quinn"), Email: policy.Ptr("qa@example.com"), Verified: true},
			At: "2026-11-25T1" + string(rune('0'+i)) + ":00:00Z", Note: a.note,
		})
	}
	return req
}

func TestDecisions(t *testing.T) {
	staging := policy.Ptr("staging")
	both := map[string]policy.ImageRef{"cart": ref("v1.0.1"), "web": ref("v1.0.1")}
	pinned := map[string]policy.ImageRef{"cart": ref("v1.0.1", "sha256:1111111111111111"), "web": ref("v1.0.1")}
	ok := approval{policy.Approved, "v1.0.1", both, nil}
	cases := []struct {
		name     string
		req      policy.EvaluationRequest
		verdict  policy.Verdict
		reasons  []string
		approval string
		message  string
	}{
		{"approved and running upstream", request(`{}`, staging, both, both, ok),
			policy.VerdictAllow, []string{"QaApproved"}, "", "Quinn approved v1.0.1 on staging at 2026-11-25T10:00:00Z"},
		{"no record waits", request(`{}`, staging, both, both),
			policy.VerdictRequireApproval, nil, "qa@staging", "v1.0.1 has no qa approval on staging yet (kubectl promote approve staging v1.0.1 --role qa)"},
		{"approval of another version does not count", request(`{}`, staging, both, both, approval{policy.Approved, "v1.0.0", both, nil}),
			policy.VerdictRequireApproval, nil, "qa@staging", ""},
		{"rejection after approval denies with its note", request(`{}`, staging, both, both, ok, approval{policy.Rejected, "v1.0.1", both, policy.Ptr("checkout 500")}),
			policy.VerdictDeny, []string{"QaRejected"}, "", "v1.0.1 was rejected by qa on staging (Quinn, 2026-11-25T11:00:00Z): checkout 500"},
		{"rejection without a note", request(`{}`, staging, both, both, approval{policy.Rejected, "v1.0.1", both, nil}),
			policy.VerdictDeny, []string{"QaRejected"}, "", "no reason given"},
		{"approval after rejection allows", request(`{}`, staging, both, both, approval{policy.Rejected, "v1.0.1", both, nil}, ok),
			policy.VerdictAllow, []string{"QaApproved"}, "", ""},
		{"revocation waits again", request(`{}`, staging, both, both, ok, approval{policy.Revoked, "v1.0.1", both, nil}),
			policy.VerdictRequireApproval, nil, "qa@staging", "Quinn revoked the qa approval of v1.0.1 on staging at 2026-11-25T11:00:00Z"},
		{"no upstream denies", request(`{}`, nil, both, both, ok),
			policy.VerdictDeny, []string{"NoUpstream"}, "", "prod has no upstream environment to look for a qa approval in"},
		{"settings name the upstream and role", request(`{"environment": "staging", "role": "qa"}`, nil, both, both, ok),
			policy.VerdictAllow, []string{"QaApproved"}, "", ""},
		{"another role's approval does not count", request(`{"role": "sec"}`, staging, both, both, ok),
			policy.VerdictRequireApproval, nil, "sec@staging", ""},
		{"image not covered", request(`{}`, staging, both, both, approval{policy.Approved, "v1.0.1", map[string]policy.ImageRef{"cart": ref("v1.0.1")}, nil}),
			policy.VerdictDeny, []string{"QaApprovalImagesDiffer"}, "", "the qa approval of v1.0.1 does not cover image web"},
		{"other tag approved", request(`{}`, staging, both, both, approval{policy.Approved, "v1.0.1", map[string]policy.ImageRef{"cart": ref("v1.0.0"), "web": ref("v1.0.1")}, nil}),
			policy.VerdictDeny, []string{"QaApprovalImagesDiffer"}, "", "cart: qa approved v1.0.0, the promotion sets v1.0.1"},
		{"other digest approved", request(`{}`, staging, map[string]policy.ImageRef{"cart": ref("v1.0.1", "sha256:2222222222222222"), "web": ref("v1.0.1")}, map[string]policy.ImageRef{"cart": ref("v1.0.1", "sha256:2222222222222222"), "web": ref("v1.0.1")}, approval{policy.Approved, "v1.0.1", pinned, nil}),
			policy.VerdictDeny, []string{"QaApprovalImagesDiffer"}, "", "cart: qa approved digest sha256:1111111111111111, the promotion sets sha256:2222222222222222"},
		{"upstream runs another image", request(`{}`, staging, both, map[string]policy.ImageRef{"cart": ref("v1.0.1"), "web": ref("v1.0.2")}, ok),
			policy.VerdictDeny, []string{"UpstreamDiffers"}, "", "staging runs web v1.0.2, not v1.0.1"},
		{"upstream lacks the image", request(`{}`, staging, both, map[string]policy.ImageRef{"cart": ref("v1.0.1")}, ok),
			policy.VerdictDeny, []string{"UpstreamDiffers"}, "", "staging's overlay does not run image web"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := evaluate(&c.req)
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Validate(); err != nil {
				t.Fatal(err)
			}
			if d.Decision != c.verdict {
				t.Errorf("decision %s %+v, want %s", d.Decision, d.Reasons, c.verdict)
			}
			if strings.Join(codes(d), ",") != strings.Join(set(c.reasons), ",") {
				t.Errorf("reasons %v, want %v", codes(d), c.reasons)
			}
			var said []string
			for _, r := range d.Reasons {
				said = append(said, r.Message)
			}
			for _, a := range d.RequiredApprovals {
				said = append(said, a.Reason)
				if a.ID != c.approval || a.Count != 1 || a.Environment != "staging" {
					t.Errorf("required approval %+v, want id %s", a, c.approval)
				}
			}
			if c.approval != "" && len(d.RequiredApprovals) != 1 {
				t.Errorf("required approvals %+v, want %s", d.RequiredApprovals, c.approval)
			}
			if !strings.Contains(strings.Join(said, "\n"), c.message) {
				t.Errorf("messages %q, want one containing %q", said, c.message)
			}
		})
	}
}

func TestTagOnlyPromotionOfAnApprovedDigestWarns(t *testing.T) {
	pinned := map[string]policy.ImageRef{"cart": ref("v1.0.1", "sha256:1111111111111111"), "web": ref("v1.0.1")}
	tags := map[string]policy.ImageRef{"cart": ref("v1.0.1"), "web": ref("v1.0.1")}
	req := request(`{}`, policy.Ptr("staging"), tags, tags, approval{policy.Approved, "v1.0.1", pinned, nil})
	d, err := evaluate(&req)
	if err != nil {
		t.Fatal(err)
	}
	if d.Decision != policy.VerdictAllow || len(d.Warnings) != 1 || d.Warnings[0] != "cart: qa approved digest sha256:1111111111111111; the promotion pins the tag only" {
		t.Errorf("%+v", d)
	}
}

func TestRollbacksAreNotDecidedHere(t *testing.T) {
	req := policy.EvaluationRequest{Operation: policy.OperationRollback, Settings: json.RawMessage(`{}`),
		Rollback: &policy.Rollback{Environment: "prod", Strategy: "argocd"}}
	d, err := evaluate(&req)
	if err != nil || d.Decision != policy.VerdictAllow || d.Warnings[0] != "qa-approved only decides promotions" {
		t.Errorf("%+v %v", d, err)
	}
}

func TestSettings(t *testing.T) {
	cases := []struct {
		in    string
		valid bool
		want  string
	}{
		{`{}`, true, ""},
		{`{"role": "qa", "environment": "uat"}`, true, ""},
		{`{"role": ""}`, false, "role must not be empty"},
		{`{"rol": "qa"}`, false, "unknown field `rol`"},
		{`{"role": 1}`, false, "cannot unmarshal number"},
		{`null`, false, "settings must be a JSON object"},
	}
	for _, c := range cases {
		v := validateSettings(json.RawMessage(c.in))
		if v.Valid != c.valid || !strings.Contains(v.Message, c.want) {
			t.Errorf("%s: %+v, want valid=%v %q", c.in, v, c.valid, c.want)
		}
	}
	// In evaluate, bad settings are a policy error (exit 1), not a denial.
	req := request(`{"rol": "qa"}`, policy.Ptr("staging"), nil, nil)
	in, _ := json.Marshal(req)
	code, out, stderr := run(t, "evaluate", in)
	if code != policy.ExitFailed || len(out) != 0 || !strings.Contains(stderr, "invalid settings: unknown field `rol`") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}
