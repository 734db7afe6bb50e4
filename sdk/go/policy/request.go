package policy

// The EvaluationRequest a policy reads on stdin, field for field as specs/policy-abi.md and the
// Rust SDK (crates/promote-policy-sdk) define it. Nullable fields are pointers; a nil pointer
// is JSON null ("the host could not learn it").

import (
	"encoding/json"
	"fmt"
)

// Operation names, as in `operation` and in the metadata's `operations`.
const (
	OperationPromote  = "promote"
	OperationRollback = "rollback"
	OperationVerify   = "verify"
)

// Approval verdicts, as in ApprovalRecord.Verdict.
const (
	Approved = "approved"
	Rejected = "rejected"
	Revoked  = "revoked"
)

// EvaluationRequest is everything a policy learns about one operation. Exactly one of
// Promotion, Rollback and Verify is set, matching Operation; ParseRequest checks that.
type EvaluationRequest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Operation is "promote", "rollback" or "verify".
	Operation string `json:"operation"`
	// Settings are this policy's settings from promote.yaml ({} when none were given).
	Settings json.RawMessage `json:"settings"`
	// Promotion is set for "promote".
	Promotion *Promotion `json:"promotion"`
	// Rollback is set for "rollback".
	Rollback *Rollback `json:"rollback"`
	// Verify is set for "verify": the checks after a deploy.
	Verify *Verification `json:"verify,omitempty"`
	// Environments holds every configured environment by name.
	Environments map[string]Environment `json:"environments"`
	// Approvals lists approvals, rejections and revocations in time order.
	Approvals []ApprovalRecord `json:"approvals"`
	// Context holds the clock, the dry-run flag and the host version.
	Context Context `json:"context"`
}

// Promotion is the promotion being decided.
type Promotion struct {
	// Environment is the target environment.
	Environment string `json:"environment"`
	// From is the upstream environment; nil for `promote ENV VERSION` without one.
	From *string `json:"from"`
	// Version is the version promoted ("mixed" when the upstream's images disagree).
	Version string `json:"version"`
	// PreviousVersion is what the target ran before; nil when unknown.
	PreviousVersion *string `json:"previousVersion"`
	// Images are the per-image changes.
	Images []ImageChange `json:"images"`
	// Mode is "pr" or "direct".
	Mode string `json:"mode"`
	// Override is set when --override-policy was given.
	Override *Override `json:"override"`
	// RequestedBy is who asked.
	RequestedBy Actor `json:"requestedBy"`
	// RenderDiff is what the change does to the rendered manifests, object by object.
	RenderDiff []RenderedObject `json:"renderDiff"`
	// Wave is set when the promotion is one wave of several.
	Wave *Wave `json:"wave,omitempty"`
	// App is the app being promoted when promote.yaml declares apps; empty otherwise.
	App string `json:"app,omitempty"`
}

// Wave is one wave of a promotion in waves.
type Wave struct {
	// Name is the wave group's name ("prod"), or the environments joined by ",".
	Name string `json:"name"`
	// Index is this wave's 1-based position.
	Index int `json:"index"`
	// Of is how many waves there are.
	Of int `json:"of"`
	// Previous lists the environments promoted (and verified) before this one.
	Previous []string `json:"previous"`
}

// Verification is the deploy being verified (operation "verify"). The host asks after each
// round of samples (Complete false: a deny stops the deploy now) and once the soak is over
// (Complete true: an allow passes it).
type Verification struct {
	Environment     string  `json:"environment"`
	Version         string  `json:"version"`
	PreviousVersion *string `json:"previousVersion"`
	// Revision is the commit Argo CD deployed.
	Revision       string `json:"revision"`
	SoakSeconds    int64  `json:"soakSeconds"`
	ElapsedSeconds int64  `json:"elapsedSeconds"`
	Complete       bool   `json:"complete"`
	// Checks holds every sample of every check so far, oldest first.
	Checks []CheckResults `json:"checks"`
	Wave   *Wave          `json:"wave"`
}

// CheckResults is one check and its samples.
type CheckResults struct {
	Name         string        `json:"name"`
	Kind         string        `json:"kind"`
	EverySeconds float64       `json:"everySeconds"`
	Samples      []CheckSample `json:"samples"`
}

// CheckSample is one sample of a check.
type CheckSample struct {
	// At is RFC 3339, UTC.
	At             string   `json:"at"`
	ElapsedSeconds float64  `json:"elapsedSeconds"`
	OK             bool     `json:"ok"`
	Status         *int     `json:"status"`
	Value          *float64 `json:"value"`
	Message        string   `json:"message"`
}

// ImageChange is one image's change in a promotion.
type ImageChange struct {
	// Name is the `name` key of the overlay's images entry.
	Name string `json:"name"`
	// NewName is the `newName` key, when the entry has one.
	NewName *string `json:"newName"`
	// From is what the target runs now.
	From ImageRef `json:"from"`
	// To is what it will run.
	To ImageRef `json:"to"`
	// Source is the release behind the change, when the new image's OCI labels name its
	// source; nil otherwise. The labels are unverified: the image's builder wrote them.
	Source *ImageSource `json:"source"`
	// SupplyChain is the cosign signatures and SLSA provenance of the digest the change
	// writes, verified by the host against the environment's trust: keys; nil when the
	// environment has no trust: or with --skip-image-check.
	SupplyChain *SupplyChain `json:"supplyChain"`
}

// SupplyChain is what the registry holds about one digest, verified by the host.
type SupplyChain struct {
	// Reference is registry/repo@sha256:..., what was checked.
	Reference string `json:"reference"`
	// Signatures are every signature found, verified or not.
	Signatures []SignatureFact `json:"signatures"`
	// Provenance is from the newest SLSA provenance attestation a trusted key signed; nil
	// when there is none.
	Provenance *Provenance `json:"provenance"`
	// Notes say what else the host saw (no signature tag, an attestation that does not count).
	Notes []string `json:"notes"`
}

// SignatureFact is one signature of a digest.
type SignatureFact struct {
	// Verified: a trusted key verified it over a payload naming this digest.
	Verified bool `json:"verified"`
	// Key is the repo path of the trusted key that verified it; nil when none did, and for
	// keyless signatures.
	Key *string `json:"key"`
	// Identity is a keyless signature's OIDC identity as its Fulcio certificate names it;
	// nil for key-based signatures. On a verified signature it is one of the environment's
	// trusted keyless identities; on an unverified one, the identity a trusted CA certified
	// (nil when no trusted CA issued the certificate: anyone can write any name into their own).
	Identity *Identity `json:"identity,omitempty"`
	// Reason says why it does not count, when not verified.
	Reason *string `json:"reason"`
}

// Identity is an OIDC identity as a Fulcio certificate names it.
type Identity struct {
	// Issuer is the OIDC token's issuer, e.g. https://token.actions.githubusercontent.com.
	Issuer string `json:"issuer"`
	// Subject is the certificate's SAN: a workflow URI or an email.
	Subject string `json:"subject"`
}

// Provenance is how a digest was built, from a verified SLSA provenance (v0.2 or v1).
type Provenance struct {
	PredicateType  string  `json:"predicateType"`
	Builder        *string `json:"builder"`
	SourceRepo     *string `json:"sourceRepo"`
	SourceRevision *string `json:"sourceRevision"`
	// SourceRef is the ref the build ran for, e.g. refs/heads/main.
	SourceRef *string `json:"sourceRef"`
	BuildType *string `json:"buildType"`
	// Key is the repo path of the key that signed the attestation.
	Key string `json:"key"`
}

// ImageSource is where an image was built from, and the range a promotion brings in.
type ImageSource struct {
	// Repo is the source repository URL (org.opencontainers.image.source).
	Repo string `json:"repo"`
	// FromRevision is the revision the current image was built from, when it says.
	FromRevision *string `json:"fromRevision"`
	// ToRevision is the revision the promoted image was built from.
	ToRevision *string `json:"toRevision"`
	// Commits are the range's first commits, oldest first, when the source's forge was asked.
	Commits []SourceCommit `json:"commits"`
	// TotalCommits is how many commits the range holds; nil when the forge was not asked.
	TotalCommits *int `json:"totalCommits"`
}

// SourceCommit is one commit of a source range.
type SourceCommit struct {
	Sha     string `json:"sha"`
	Subject string `json:"subject"`
}

// RenderedObject is one rendered object a promotion adds, removes or changes.
type RenderedObject struct {
	// ID reads "apps/Deployment shop/cart" (no group for the core group).
	ID        string  `json:"id"`
	Group     string  `json:"group"`
	Kind      string  `json:"kind"`
	Namespace *string `json:"namespace"`
	Name      string  `json:"name"`
	// Change is "added", "removed" or "changed".
	Change string `json:"change"`
	// Fields are the field paths that differ; a Secret's keys, never its values.
	Fields []string `json:"fields"`
}

// ImageRef is a tag and a digest; either may be nil.
type ImageRef struct {
	Tag    *string `json:"tag"`
	Digest *string `json:"digest"`
}

// Override is break-glass: --override-policy --reason TEXT.
type Override struct {
	By     Actor  `json:"by"`
	Reason string `json:"reason"`
}

// Actor is the person (or CI job) running the command.
type Actor struct {
	Name     *string `json:"name"`
	Email    *string `json:"email"`
	KubeUser *string `json:"kubeUser"`
	// Verified is true when the identity comes from the forge account behind a token.
	Verified bool `json:"verified"`
}

// Rollback is the rollback being decided.
type Rollback struct {
	Environment string `json:"environment"`
	// Strategy is "argocd" or "revert".
	Strategy    string       `json:"strategy"`
	From        RollbackFrom `json:"from"`
	To          RollbackTo   `json:"to"`
	RequestedBy Actor        `json:"requestedBy"`
	Override    *Override    `json:"override"`
}

// RollbackFrom is what runs now.
type RollbackFrom struct {
	Version    string  `json:"version"`
	Revision   *string `json:"revision"`
	DeployedAt *string `json:"deployedAt"`
}

// RollbackTo is what a rollback goes back to.
type RollbackTo struct {
	Version    string  `json:"version"`
	Revision   string  `json:"revision"`
	HistoryID  *int64  `json:"historyId"`
	DeployedAt *string `json:"deployedAt"`
	// WasHealthy is nil when unknown.
	WasHealthy *bool `json:"wasHealthy"`
}

// Environment is what the host knows about one environment.
type Environment struct {
	// Version is the tag all images share, else "mixed".
	Version string `json:"version"`
	// Protected is `protected: true` in promote.yaml (false when absent). The built-in
	// approval policies require verified approvals there by default.
	Protected bool `json:"protected"`
	// Images is the per-image truth, by image name.
	Images map[string]ImageRef `json:"images"`
	// Git is the overlay's last change on the base branch.
	Git *GitState `json:"git"`
	// ArgoCD is nil when the env has no Argo CD app or it could not be read.
	ArgoCD *ArgoCDState `json:"argocd"`
}

// GitState holds git facts about an environment's overlay.
type GitState struct {
	Revision    string  `json:"revision"`
	CommittedAt *string `json:"committedAt"`
}

// ArgoCDState holds Argo CD facts about an environment.
type ArgoCDState struct {
	Sync             *string `json:"sync"`
	Health           *string `json:"health"`
	DeployedRevision *string `json:"deployedRevision"`
	AutoSync         *bool   `json:"autoSync"`
	// RollbackMarker is raw JSON (null when none): the host owns its shape.
	RollbackMarker json.RawMessage `json:"rollbackMarker"`
	// History is the deployment history, oldest first.
	History []HistoryEntry `json:"history"`
}

// HistoryEntry is one status.history entry.
type HistoryEntry struct {
	ID          int64        `json:"id"`
	Revision    string       `json:"revision"`
	Version     *string      `json:"version"`
	DeployedAt  *string      `json:"deployedAt"`
	InitiatedBy *InitiatedBy `json:"initiatedBy"`
	WasHealthy  *bool        `json:"wasHealthy"`
}

// InitiatedBy is Argo CD's initiatedBy.
type InitiatedBy struct {
	Automated bool    `json:"automated"`
	Username  *string `json:"username"`
}

// ApprovalRecord is an approval, rejection or revocation.
type ApprovalRecord struct {
	Environment string `json:"environment"`
	Version     string `json:"version"`
	Role        string `json:"role"`
	// Verdict is "approved", "rejected" or "revoked".
	Verdict string `json:"verdict"`
	// Images are the tags and digests the verdict is about.
	Images map[string]ImageRef `json:"images"`
	By     Approver            `json:"by"`
	// At is RFC 3339.
	At   string  `json:"at"`
	Note *string `json:"note"`
}

// Approver is the identity behind an approval record.
type Approver struct {
	Name  *string `json:"name"`
	Email *string `json:"email"`
	// Verified is computed by the host when it read the record, never taken from it: true
	// when the record's commit is signed by a key the repository allows for this approver
	// (approverKeys in promote.yaml). Only records by someone promote.yaml's approvers lists
	// for the role reach a policy at all.
	Verified bool `json:"verified"`
}

// Context holds facts about the invocation.
type Context struct {
	// Now is the time the decision is made at (RFC 3339); in the sandbox the wall clock is
	// fixed to it. Time-based logic should read this, never time.Now.
	Now            string `json:"now"`
	DryRun         bool   `json:"dryRun"`
	PromoteVersion string `json:"promoteVersion"`
}

// ParseRequest decodes a request and checks what the contract promises: the apiVersion and
// kind, a known operation, exactly the matching one of promotion and rollback, and known
// values of the enumerations (mode, strategy, approval verdicts). A missing `settings` becomes
// {}.
func ParseRequest(data []byte) (*EvaluationRequest, error) {
	var req EvaluationRequest
	if err := json.Unmarshal(data, &req); err != nil {
		return nil, err
	}
	if req.APIVersion != APIVersion {
		return nil, fmt.Errorf("apiVersion is %q, this policy understands %q", req.APIVersion, APIVersion)
	}
	if req.Kind != "EvaluationRequest" {
		return nil, fmt.Errorf("kind is %q, expected \"EvaluationRequest\"", req.Kind)
	}
	set := 0
	for _, b := range []bool{req.Promotion != nil, req.Rollback != nil, req.Verify != nil} {
		if b {
			set++
		}
	}
	if set > 1 {
		return nil, fmt.Errorf("more than one of `promotion`, `rollback` and `verify` is set")
	}
	switch req.Operation {
	case OperationPromote:
		if req.Promotion == nil {
			return nil, fmt.Errorf("operation is \"promote\" but `promotion` is null or missing")
		}
	case OperationRollback:
		if req.Rollback == nil {
			return nil, fmt.Errorf("operation is \"rollback\" but `rollback` is null or missing")
		}
	case OperationVerify:
		if req.Verify == nil {
			return nil, fmt.Errorf("operation is \"verify\" but `verify` is null or missing")
		}
	default:
		return nil, fmt.Errorf("operation is %q, expected \"promote\", \"rollback\" or \"verify\"", req.Operation)
	}
	if req.Promotion != nil && req.Promotion.Mode != "pr" && req.Promotion.Mode != "direct" {
		return nil, fmt.Errorf("promotion.mode is %q, expected \"pr\" or \"direct\"", req.Promotion.Mode)
	}
	if req.Rollback != nil && req.Rollback.Strategy != "argocd" && req.Rollback.Strategy != "revert" {
		return nil, fmt.Errorf("rollback.strategy is %q, expected \"argocd\" or \"revert\"", req.Rollback.Strategy)
	}
	for i, a := range req.Approvals {
		switch a.Verdict {
		case Approved, Rejected, Revoked:
		default:
			return nil, fmt.Errorf("approvals[%d].verdict is %q, expected \"approved\", \"rejected\" or \"revoked\"", i, a.Verdict)
		}
	}
	if len(req.Settings) == 0 {
		req.Settings = json.RawMessage("{}")
	}
	return &req, nil
}

// TargetEnvironment is the environment the operation changes.
func (r *EvaluationRequest) TargetEnvironment() string {
	if r.Promotion != nil {
		return r.Promotion.Environment
	}
	if r.Rollback != nil {
		return r.Rollback.Environment
	}
	return ""
}

// DecodeSettings decodes the request's settings into v (a pointer to a struct) with
// DecodeSettings' strict rules.
func (r *EvaluationRequest) DecodeSettings(v any) error {
	return DecodeSettings(r.Settings, v)
}

// Str is the string p points to, or "" for nil: for messages.
func Str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Ptr returns a pointer to v: for building requests in tests.
func Ptr[T any](v T) *T {
	return &v
}
