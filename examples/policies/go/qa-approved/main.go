// Command qa-approved is the Go twin of builtin:qa-approved (policies/qa-approved): a promotion
// needs QA's approval of this version in the upstream environment, bound to the same images,
// and the upstream overlay must run those images.
//
// The record in force is the latest for (upstream, version, role): a rejection denies with its
// note, a revocation or no record at all waits for approval (exit 4), an approval must cover
// every promoted image with the same tag (and digest, where QA recorded one). Reason codes,
// messages and decisions are the Rust built-in's, so both pass policies/cases/qa-approved and
// serve as a like-for-like benchmark.
//
//	go run . evaluate < cases/allow-approved.json   # natively (a case file is not a request: see README)
//	GOOS=wasip1 GOARCH=wasm go build -o policy.wasm  # the module kubectl promote runs
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
	wait := func(why string) policy.Decision {
		return policy.RequireApproval(policy.RequiredApproval{
			ID:          role + "@" + upstream,
			Environment: upstream,
			Count:       1,
			Reason:      why,
		})
	}
	record := policy.LatestApproval(req.Approvals, upstream, p.Version, role)
	if record == nil {
		return wait(fmt.Sprintf("%s has no %s approval on %s yet (kubectl promote approve %s %s --role %s)",
			p.Version, role, upstream, upstream, p.Version, role)), nil
	}
	who := "someone"
	if record.By.Name != nil {
		who = *record.By.Name
	} else if record.By.Email != nil {
		who = *record.By.Email
	}
	switch record.Verdict {
	case policy.Rejected:
		note := "no reason given"
		if record.Note != nil {
			note = *record.Note
		}
		return policy.Deny("QaRejected", fmt.Sprintf("%s was rejected by %s on %s (%s, %s): %s",
			p.Version, role, upstream, who, record.At, note)), nil
	case policy.Revoked:
		return wait(fmt.Sprintf("%s revoked the %s approval of %s on %s at %s",
			who, role, p.Version, upstream, record.At)), nil
	case policy.Approved:
	default:
		return policy.Decision{}, fmt.Errorf("approval record of %s on %s has verdict %q; expected approved, rejected or revoked",
			p.Version, upstream, record.Verdict)
	}

	d := policy.Allow()
	env, hasEnv := req.Environments[upstream]
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
		running, runs := env.Images[image.Name]
		switch {
		case hasEnv && runs && policy.SameImage(image.To, running):
		case hasEnv && runs:
			d = d.WithReason("UpstreamDiffers", fmt.Sprintf("%s runs %s %s, not %s",
				upstream, image.Name, running, image.To))
		default:
			d = d.WithReason("UpstreamDiffers", fmt.Sprintf("%s's overlay does not run image %s", upstream, image.Name))
		}
	}
	if len(d.Reasons) > 0 {
		d.Decision = policy.VerdictDeny
		return d, nil
	}
	return d.WithReason("QaApproved", fmt.Sprintf("%s approved %s on %s at %s", who, p.Version, upstream, record.At)), nil
}

func eq(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}
