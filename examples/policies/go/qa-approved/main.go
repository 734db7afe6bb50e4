// Command qa-approved is the Go twin of builtin:qa-approved (policies/qa-approved): a promotion
// needs QA's approval of this version in the upstream environment, bound to the same images,
// and the upstream overlay must run those images.
//
// First the upstream: when it does not run the promoted images, the promotion is denied
// ("staging runs v1.0.1, not v1.0.2: promote staging first"). Then the record in force, the
// latest for (upstream, version, role): a rejection denies with its note, a revocation or no
// record at all waits for approval (exit 4), an approval must cover every promoted image with the
// same tag (and digest, where QA recorded one). requireVerified (default: the target
// environment's protected) counts only approvals the host verified; an unverified one is then as
// if it was not given. Reason codes, messages and decisions are the Rust built-in's, so both pass
// policies/cases/qa-approved and serve as a like-for-like benchmark.
//
//	go test ./...                                    # table tests and the shared cases, natively
//	jq '.request + {settings: .settings}' cases/allow-approved.json | go run . evaluate
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildvcs=false -o policy.wasm .
//	kubectl promote policy test .                    # the same cases in the sandbox
package main

import (
	"encoding/json"
	"fmt"

	"github.com/kubectl-promote/kubectl-promote/sdk/go/policy"
)

// Settings are the policy's settings in promote.yaml.
type Settings struct {
	// Role is the approver role whose verdict counts (default "qa").
	Role string `json:"role"`
	// Environment is where QA tests; nil means the promotion's from.
	Environment *string `json:"environment"`
	// RequireVerified counts only verified approvals; nil means the target's protected.
	RequireVerified *bool `json:"requireVerified"`
}

func defaults() Settings {
	return Settings{Role: "qa"}
}

func main() {
	policy.Run(evaluate, validateSettings)
}

func validateSettings(raw json.RawMessage) policy.SettingsValidation {
	s := defaults()
	if err := policy.DecodeSettings(raw, &s); err != nil {
		return policy.InvalidSettings(err.Error())
	}
	if s.Role == "" {
		return policy.InvalidSettings("role must not be empty")
	}
	return policy.ValidSettings()
}

func evaluate(req *policy.EvaluationRequest) (policy.Decision, error) {
	s := defaults()
	if err := req.DecodeSettings(&s); err != nil {
		// Bad settings are a policy error (exit 1), not a denial.
		return policy.Decision{}, fmt.Errorf("invalid settings: %w", err)
	}
	p := req.Promotion
	if p == nil {
		return policy.Allow().WithWarning("qa-approved only decides promotions"), nil
	}
	upstreamRef := s.Environment
	if upstreamRef == nil {
		upstreamRef = p.From
	}
	role := s.Role
	if upstreamRef == nil {
		return policy.Deny("NoUpstream", fmt.Sprintf(
			"%s has no upstream environment to look for a %s approval in; promote with --from ENV or set `environment` in the policy settings",
			p.Environment, role)), nil
	}
	upstream := *upstreamRef
	if denied, ok := upstreamDiffers(req, p, upstream); ok {
		return denied, nil
	}
	requireVerified := req.Environments[p.Environment].Protected
	if s.RequireVerified != nil {
		requireVerified = *s.RequireVerified
	}
	wait := func(why string) policy.Decision {
		return policy.RequireApproval(policy.RequiredApproval{
			ID:          role + "@" + upstream,
			Environment: upstream,
			Count:       1,
			Reason:      why,
			Verified:    requireVerified,
		})
	}
	// Where only verified approvals count, an unverified one is as if it was not given; the
	// most recent such is named in the wait.
	var record, unverified *policy.ApprovalRecord
	for i := len(req.Approvals) - 1; i >= 0; i-- {
		r := &req.Approvals[i]
		if r.Environment != upstream || r.Version != p.Version || r.Role != role {
			continue
		}
		if requireVerified && r.Verdict == policy.Approved && !r.By.Verified {
			if unverified == nil {
				unverified = r
			}
			continue
		}
		record = r
		break
	}
	notVerified := func(r *policy.ApprovalRecord) string {
		return fmt.Sprintf("the %s approval of %s on %s by %s is not verified, and %s counts verified approvals only: %s",
			role, p.Version, upstream, name(r), p.Environment, signFix)
	}
	if record == nil {
		if unverified != nil {
			return wait(notVerified(unverified)), nil
		}
		return wait(fmt.Sprintf("%s has no %s approval on %s yet (kubectl promote approve %s %s --role %s)",
			p.Version, role, upstream, upstream, p.Version, role)), nil
	}
	who := name(record)
	switch record.Verdict {
	case policy.Rejected:
		note := "no reason given"
		if record.Note != nil {
			note = *record.Note
		}
		return policy.Deny("QaRejected", fmt.Sprintf("%s was rejected by %s on %s (%s, %s): %s",
			p.Version, role, upstream, who, record.At, note)), nil
	case policy.Revoked:
		if unverified != nil {
			return wait(notVerified(unverified)), nil
		}
		return wait(fmt.Sprintf("%s revoked the %s approval of %s on %s at %s",
			who, role, p.Version, upstream, record.At)), nil
	case policy.Approved:
	default:
		return policy.Decision{}, fmt.Errorf("approval record of %s on %s has verdict %q; expected approved, rejected or revoked",
			p.Version, upstream, record.Verdict)
	}

	d := policy.Allow()
	for _, image := range p.Images {
		approved, covered := record.Images[image.Name]
		switch {
		case !covered:
			d = d.WithReason("QaApprovalImagesDiffer", fmt.Sprintf("the %s approval of %s does not cover image %s",
				role, p.Version, image.Name))
		case !eq(approved.Tag, image.To.Tag):
			d = d.WithReason("QaApprovalImagesDiffer", fmt.Sprintf("%s: %s approved %s, the promotion sets %s",
				image.Name, role, approved, image.To))
		case approved.Digest != nil && image.To.Digest != nil && *approved.Digest != *image.To.Digest:
			d = d.WithReason("QaApprovalImagesDiffer", fmt.Sprintf("%s: %s approved digest %s, the promotion sets %s",
				image.Name, role, *approved.Digest, *image.To.Digest))
		case approved.Digest != nil && image.To.Digest == nil:
			d = d.WithWarning(fmt.Sprintf("%s: %s approved digest %s; the promotion pins the tag only",
				image.Name, role, *approved.Digest))
		}
	}
	if len(d.Reasons) > 0 {
		d.Decision = policy.VerdictDeny
		return d, nil
	}
	how := ""
	if !record.By.Verified {
		how = " (unverified)"
	}
	return d.WithReason("QaApproved", fmt.Sprintf("%s%s approved %s on %s at %s", who, how, p.Version, upstream, record.At)), nil
}

// signFix says how to make an approval verified, for the wait's reason.
const signFix = "sign approvals with a key listed in promote.yaml's approverKeys (ssh: `git config gpg.format ssh`, `git config user.signingkey ~/.ssh/id_ed25519`, `git config commit.gpgsign true`, and add `EMAIL ssh-ed25519 AAAA…` to the approverKeys.ssh file on the base branch), then approve again; or set requireVerified: false for this policy"

func name(r *policy.ApprovalRecord) string {
	switch {
	case r.By.Name != nil:
		return *r.By.Name
	case r.By.Email != nil:
		return *r.By.Email
	}
	return "someone"
}

// upstreamDiffers denies when the upstream does not run the promoted images: "staging runs
// v1.0.1, not v1.0.2: promote staging first" when the tags differ and the upstream runs one
// version, one reason per image otherwise.
func upstreamDiffers(req *policy.EvaluationRequest, p *policy.Promotion, upstream string) (policy.Decision, bool) {
	env, ok := req.Environments[upstream]
	if !ok {
		return policy.Deny("UpstreamDiffers", fmt.Sprintf(
			"%s is not an environment of this repository's configuration, so nothing there can be approved", upstream)), true
	}
	var reasons []policy.Reason
	tagsDiffer := false
	for _, image := range p.Images {
		running, runs := env.Images[image.Name]
		switch {
		case runs && policy.SameImage(image.To, running):
		case runs:
			if !eq(running.Tag, image.To.Tag) {
				tagsDiffer = true
			}
			reasons = append(reasons, policy.Reason{Code: "UpstreamDiffers", Message: fmt.Sprintf("%s runs %s %s, not %s",
				upstream, image.Name, running, image.To)})
		default:
			reasons = append(reasons, policy.Reason{Code: "UpstreamDiffers", Message: fmt.Sprintf("%s's overlay does not run image %s", upstream, image.Name)})
		}
	}
	if len(reasons) == 0 {
		return policy.Decision{}, false
	}
	if tagsDiffer && env.Version != "mixed" && env.Version != "" && env.Version != p.Version {
		return policy.Deny("UpstreamDiffers", fmt.Sprintf("%s runs %s, not %s: promote %s first",
			upstream, env.Version, p.Version, upstream)), true
	}
	return policy.Decision{Decision: policy.VerdictDeny, Reasons: reasons}, true
}

func eq(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}
