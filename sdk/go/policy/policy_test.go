package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const request = `{
  "apiVersion": "policy.promote.kubectl.io/v1alpha1", "kind": "EvaluationRequest",
  "operation": "promote", "settings": {"max": 2},
  "promotion": {"environment": "prod", "from": "staging", "version": "v1.0.1", "previousVersion": null,
    "images": [{"name": "cart", "newName": null, "from": {"tag": "v1.0.0", "digest": null}, "to": {"tag": "v1.0.1", "digest": "sha256:aa"},
      "source": {"repo": "https://github.com/acme/cart", "fromRevision": null, "toRevision": "e4f5a6b",
        "commits": [{"sha": "e4f5a6b", "subject": "fix checkout"}], "totalCommits": 1},
      "supplyChain": null}],
    "mode": "pr", "override": null,
    "requestedBy": {"name": "Ana", "email": "ana@example.com", "kubeUser": null, "verified": false},
    "renderDiff": [{"id": "apps/Deployment shop/cart", "group": "apps", "kind": "Deployment", "namespace": "shop",
      "name": "cart", "change": "changed", "fields": ["spec.template.spec.containers[server].image"]}]},
  "rollback": null,
  "environments": {"staging": {"version": "v1.0.1", "protected": true, "images": {"cart": {"tag": "v1.0.1", "digest": null}},
    "git": {"revision": "abc", "committedAt": null},
    "argocd": {"sync": "Synced", "health": "Healthy", "deployedRevision": "abc", "autoSync": true, "rollbackMarker": null,
      "history": [{"id": 4, "revision": "abc", "version": "v1.0.1", "deployedAt": "2026-11-25T10:00:00Z",
                   "initiatedBy": {"automated": true, "username": null}, "wasHealthy": null}]}}},
  "approvals": [{"environment": "staging", "version": "v1.0.1", "role": "qa", "verdict": "approved",
    "images": {"cart": {"tag": "v1.0.1", "digest": null}},
    "by": {"name": "Quinn", "email": "qa@example.com", "verified": true}, "at": "2026-11-25T12:00:00Z", "note": null}],
  "context": {"now": "2026-11-26T11:00:00Z", "dryRun": false, "promoteVersion": "0.1.0"}
}`

func TestParseRequestReadsEveryField(t *testing.T) {
	req, err := ParseRequest([]byte(request))
	if err != nil {
		t.Fatal(err)
	}
	p := req.Promotion
	if p == nil || p.Environment != "prod" || Str(p.From) != "staging" || p.PreviousVersion != nil || p.Mode != "pr" {
		t.Fatalf("promotion: %+v", p)
	}
	if got := p.Images[0].To.String(); got != "v1.0.1@sha256:aa" {
		t.Errorf("image ref: %s", got)
	}
	argo := req.Environments["staging"].ArgoCD
	if argo == nil || Str(argo.Health) != "Healthy" || argo.History[0].ID != 4 || argo.History[0].WasHealthy != nil {
		t.Fatalf("argocd: %+v", argo)
	}
	if !req.Environments["staging"].Protected {
		t.Errorf("protected: %+v", req.Environments["staging"])
	}
	if string(argo.RollbackMarker) != "null" {
		t.Errorf("rollbackMarker: %q", argo.RollbackMarker)
	}
	if req.Approvals[0].Verdict != Approved || !req.Approvals[0].By.Verified {
		t.Errorf("approvals: %+v", req.Approvals)
	}
	if req.Context.Now != "2026-11-26T11:00:00Z" || req.TargetEnvironment() != "prod" {
		t.Errorf("context: %+v", req.Context)
	}
	var s struct {
		Max int `json:"max"`
	}
	if err := req.DecodeSettings(&s); err != nil || s.Max != 2 {
		t.Errorf("settings: %v %+v", err, s)
	}
}

func TestRequestRoundTripsWithNullsKept(t *testing.T) {
	req, err := ParseRequest([]byte(request))
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	_ = json.Unmarshal([]byte(request), &want)
	_ = json.Unmarshal(out, &got)
	w, _ := json.Marshal(want)
	g, _ := json.Marshal(got)
	if !bytes.Equal(w, g) {
		t.Errorf("round trip changed the document:\nwant %s\ngot  %s", w, g)
	}
}

func TestParseRequestRefusesBrokenContracts(t *testing.T) {
	cases := []struct {
		name, from, to, want string
	}{
		{"api version", `"apiVersion": "policy.promote.kubectl.io/v1alpha1"`, `"apiVersion": "v2"`, `apiVersion is "v2"`},
		{"kind", `"kind": "EvaluationRequest"`, `"kind": "Decision"`, `kind is "Decision"`},
		{"operation", `"operation": "promote"`, `"operation": "deploy"`, `operation is "deploy"`},
		{"rollback without details", `"operation": "promote"`, `"operation": "rollback"`, "`rollback` is null or missing"},
		{"both", `"rollback": null`, `"rollback": {"environment": "prod"}`, "more than one of `promotion`, `rollback` and `verify`"},
		{"mode", `"mode": "pr"`, `"mode": "yolo"`, `promotion.mode is "yolo"`},
		{"verdict", `"verdict": "approved"`, `"verdict": "maybe"`, `approvals[0].verdict is "maybe"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseRequest([]byte(strings.Replace(request, c.from, c.to, 1)))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestMissingSettingsAreAnEmptyObject(t *testing.T) {
	req, err := ParseRequest([]byte(strings.Replace(request, `"settings": {"max": 2},`, "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if string(req.Settings) != "{}" {
		t.Errorf("settings: %s", req.Settings)
	}
}

func TestDecisionsAreWrittenAsTheHostReadsThem(t *testing.T) {
	cases := []struct {
		name string
		d    Decision
		want string
	}{
		{"allow", Allow(),
			`{"apiVersion":"policy.promote.kubectl.io/v1alpha1","kind":"Decision","decision":"allow","reasons":[],"requiredApprovals":[],"warnings":[]}`},
		{"deny", Deny("ChangeFreeze", "frozen").WithWarning("w"),
			`{"apiVersion":"policy.promote.kubectl.io/v1alpha1","kind":"Decision","decision":"deny","reasons":[{"code":"ChangeFreeze","message":"frozen"}],"requiredApprovals":[],"warnings":["w"]}`},
		{"require-approval", RequireApproval(RequiredApproval{ID: "pm", Environment: "prod", Count: 1, Reason: "sign-off"}),
			`{"apiVersion":"policy.promote.kubectl.io/v1alpha1","kind":"Decision","decision":"require-approval","reasons":[],"requiredApprovals":[{"id":"pm","environment":"prod","count":1,"reason":"sign-off"}],"warnings":[]}`},
		{"deny, not overridable", Deny("ChangeFreeze", "frozen").NotOverridable(),
			`{"apiVersion":"policy.promote.kubectl.io/v1alpha1","kind":"Decision","decision":"deny","reasons":[{"code":"ChangeFreeze","message":"frozen"}],"requiredApprovals":[],"warnings":[],"overridable":false}`},
		{"require-verified-approval", RequireApproval(RequiredApproval{ID: "pm", Environment: "prod", Count: 1, Reason: "sign-off", Verified: true}),
			`{"apiVersion":"policy.promote.kubectl.io/v1alpha1","kind":"Decision","decision":"require-approval","reasons":[],"requiredApprovals":[{"id":"pm","environment":"prod","count":1,"reason":"sign-off","verified":true}],"warnings":[]}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := json.Marshal(c.d)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != c.want {
				t.Errorf("got  %s\nwant %s", out, c.want)
			}
			var back Decision
			if err := json.Unmarshal(out, &back); err != nil || back.Decision != c.d.Decision || back.RefusesOverride != c.d.RefusesOverride {
				t.Errorf("reading it back: %v %+v", err, back)
			}
		})
	}
}

func TestWithReasonDoesNotAlias(t *testing.T) {
	base := Deny("A", "a")
	one := base.WithReason("B", "b")
	two := base.WithReason("C", "c")
	if one.Reasons[1].Code != "B" || two.Reasons[1].Code != "C" || len(base.Reasons) != 1 {
		t.Errorf("decisions share a reasons array: %+v %+v %+v", base, one, two)
	}
}

func TestValidateRefusesWhatTheHostRefuses(t *testing.T) {
	cases := []struct {
		name string
		d    Decision
		want string
	}{
		{"deny without reasons", Decision{Decision: VerdictDeny}, "reasons is empty"},
		{"require without approvals", Decision{Decision: VerdictRequireApproval}, "requiredApprovals is empty"},
		{"count zero", RequireApproval(RequiredApproval{ID: "qa"}), "count of at least 1"},
		{"empty id", RequireApproval(RequiredApproval{Count: 1}), "non-empty id"},
		{"unknown verdict", Decision{Decision: "maybe"}, `decision is "maybe"`},
		{"zero value", Decision{}, `decision is ""`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.d.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}
	if err := Allow().Validate(); err != nil {
		t.Errorf("allow: %v", err)
	}
}

func TestDecodeSettingsIsStrict(t *testing.T) {
	type settings struct {
		Role        string  `json:"role"`
		Environment *string `json:"environment"`
	}
	cases := []struct {
		name, in, want string
	}{
		{"unknown key", `{"rol": "qa"}`, "unknown field `rol`, expected one of `environment`, `role`"},
		{"case matters", `{"Role": "qa"}`, "unknown field `Role`"},
		{"not an object", `null`, "settings must be a JSON object, got null"},
		{"a list", `[1]`, "settings must be a JSON object"},
		{"wrong type", `{"role": 5}`, "cannot unmarshal number"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := settings{Role: "qa"}
			err := DecodeSettings(json.RawMessage(c.in), &s)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}
	// A request built by hand in a test may carry no settings at all: that reads as `{}`.
	if err := DecodeSettings(nil, &settings{}); err != nil {
		t.Errorf("absent settings: %v", err)
	}
	s := settings{Role: "qa"}
	if err := DecodeSettings(json.RawMessage(`{"environment": "uat"}`), &s); err != nil || s.Role != "qa" || Str(s.Environment) != "uat" {
		t.Errorf("defaults kept, value read: %v %+v", err, s)
	}
}

func records(rs ...string) []ApprovalRecord {
	var out []ApprovalRecord
	for _, r := range rs {
		// "env version role verdict email"
		f := strings.Fields(r)
		out = append(out, ApprovalRecord{Environment: f[0], Version: f[1], Role: f[2], Verdict: f[3], By: Approver{Email: Ptr(f[4])}})
	}
	return out
}

func TestTheLatestRecordIsInForce(t *testing.T) {
	rs := records(
		"staging v1 qa approved a@x",
		"staging v1 qa rejected B@x",
		"staging v1 pm approved c@x",
		"staging v2 qa approved a@x",
		"staging v1 qa approved b@x",
	)
	if r := LatestApproval(rs, "staging", "v1", "qa"); r == nil || r.Verdict != Approved || Str(r.By.Email) != "b@x" {
		t.Errorf("latest: %+v", r)
	}
	if r := LatestApproval(rs, "prod", "v1", "qa"); r != nil {
		t.Errorf("no record: %+v", r)
	}
	per := LatestPerApprover(rs, "staging", "v1", "qa")
	if len(per) != 2 || Str(per[0].By.Email) != "a@x" || Str(per[1].By.Email) != "b@x" || per[1].Verdict != Approved {
		t.Errorf("per approver (e-mails compare case-insensitively): %+v", per)
	}
}

func TestSameImage(t *testing.T) {
	v1, v2, d1, d2 := Ptr("v1"), Ptr("v2"), Ptr("sha256:1"), Ptr("sha256:2")
	cases := []struct {
		wanted, actual ImageRef
		same           bool
	}{
		{ImageRef{Tag: v1}, ImageRef{Tag: v1, Digest: d1}, true},
		{ImageRef{Tag: v1, Digest: d1}, ImageRef{Tag: v1, Digest: d1}, true},
		{ImageRef{Tag: v1, Digest: d1}, ImageRef{Tag: v1, Digest: d2}, false},
		{ImageRef{Tag: v1, Digest: d1}, ImageRef{Tag: v1}, false},
		{ImageRef{Tag: v1}, ImageRef{Tag: v2}, false},
		{ImageRef{}, ImageRef{}, true},
	}
	for i, c := range cases {
		if got := SameImage(c.wanted, c.actual); got != c.same {
			t.Errorf("case %d: SameImage(%s, %s) = %v", i, c.wanted, c.actual, got)
		}
	}
	if !(ImageRef{Tag: Ptr("v1")}).Equal(ImageRef{Tag: v1}) || (ImageRef{Tag: v1}).Equal(ImageRef{Tag: v1, Digest: d1}) {
		t.Error("Equal compares values, and a missing digest differs from a digest")
	}
}

func run(args []string, stdin string, evaluate EvaluateFunc) (int, string, string) {
	var out, errOut bytes.Buffer
	validate := func(s json.RawMessage) SettingsValidation {
		if string(s) == `{"bad":true}` {
			return InvalidSettings("bad must not be set")
		}
		return ValidSettings()
	}
	code := RunWith(args, strings.NewReader(stdin), &out, &errOut, evaluate, validate)
	return code, out.String(), errOut.String()
}

func TestRunSpeaksTheProtocol(t *testing.T) {
	allow := func(*EvaluationRequest) (Decision, error) { return Allow(), nil }
	cases := []struct {
		name     string
		args     []string
		stdin    string
		evaluate EvaluateFunc
		code     int
		stdout   string
		stderr   string
	}{
		{"evaluate", []string{"policy", "evaluate"}, request, allow, ExitOK, `"decision":"allow"`, ""},
		{"policy failure", []string{"policy", "evaluate"}, request,
			func(*EvaluationRequest) (Decision, error) { return Decision{}, errors.New("invalid settings: max") },
			ExitFailed, "", "invalid settings: max"},
		{"invalid decision", []string{"policy", "evaluate"}, request,
			func(*EvaluationRequest) (Decision, error) { return Decision{Decision: VerdictDeny}, nil },
			ExitFailed, "", "policy produced an invalid decision: decision is \"deny\" but reasons is empty"},
		{"bad request", []string{"policy", "evaluate"}, `{"kind": 1}`, allow, ExitBadInput, "", "stdin is not a valid EvaluationRequest"},
		{"settings", []string{"policy", "validate-settings"}, `{"bad":true}`, allow, ExitOK, `{"valid":false,"message":"bad must not be set"}`, ""},
		{"valid settings", []string{"policy", "validate-settings"}, `{}`, allow, ExitOK, `{"valid":true}`, ""},
		{"settings not json", []string{"policy", "validate-settings"}, `{`, allow, ExitBadInput, "", "stdin is not JSON settings"},
		{"no operation", []string{"/x/policy"}, "", allow, ExitUsage, "", "usage: policy evaluate|validate-settings < input.json (got no operation)"},
		{"unknown operation", []string{"policy", "decide"}, "", allow, ExitUsage, "", `(got "decide")`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := run(c.args, c.stdin, c.evaluate)
			if code != c.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, c.code, stderr)
			}
			if c.stdout == "" && stdout != "" || !strings.Contains(stdout, c.stdout) {
				t.Errorf("stdout %q, want %q", stdout, c.stdout)
			}
			if !strings.Contains(stderr, c.stderr) {
				t.Errorf("stderr %q, want %q", stderr, c.stderr)
			}
			if code == ExitOK && (strings.Count(stdout, "\n") != 1 || !json.Valid([]byte(stdout))) {
				t.Errorf("stdout must be exactly one JSON document: %q", stdout)
			}
		})
	}
}

func TestSignatureFactsCarryKeylessIdentities(t *testing.T) {
	var chain SupplyChain
	doc := `{"reference": "reg/cart@sha256:aa", "signatures": [
		{"verified": true, "key": null, "reason": null,
		 "identity": {"issuer": "https://token.actions.githubusercontent.com", "subject": "https://github.com/acme/shop/.github/workflows/release.yml@refs/heads/main"}},
		{"verified": true, "key": "keys/release.pub", "reason": null}],
		"provenance": null, "notes": []}`
	if err := json.Unmarshal([]byte(doc), &chain); err != nil {
		t.Fatal(err)
	}
	keyless, keyed := chain.Signatures[0], chain.Signatures[1]
	if keyless.Identity == nil || keyless.Identity.Issuer != "https://token.actions.githubusercontent.com" || keyless.Key != nil {
		t.Errorf("keyless: %+v", keyless)
	}
	if keyed.Identity != nil || Str(keyed.Key) != "keys/release.pub" {
		t.Errorf("key-based: %+v", keyed)
	}
	// A key-based fact is written back without an identity, as the host sends it.
	out, err := json.Marshal(keyed)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "identity") {
		t.Errorf("key-based fact written with an identity: %s", out)
	}
}
