# Unit tests of qa-approved (run: opa test . -v). The JSON cases in cases/ are run against the
# built bundle by `kubectl promote policy test` and by the host's tests, beside the Rust built-in.
package promote_test

import data.promote

approval(verdict, at) := {
	"environment": "staging", "version": "v1.0.1", "role": "qa", "verdict": verdict,
	"images": {"cart": {"tag": "v1.0.1", "digest": null}},
	"by": {"name": "Quinn", "email": "qa@example.com", "verified": true},
	"at": at, "note": "because",
}

request(approvals) := {
	"operation": "promote",
	"settings": {},
	"promotion": {
		"environment": "prod", "from": "staging", "version": "v1.0.1",
		"images": [{"name": "cart", "to": {"tag": "v1.0.1", "digest": null}}],
	},
	"environments": {"staging": {"images": {"cart": {"tag": "v1.0.1", "digest": null}}}},
	"approvals": approvals,
}

codes(d) := {r.code | some r in d.reasons}

test_approved_allows if {
	d := promote.decision with input as request([approval("approved", "t1")])
	d.decision == "allow"
	codes(d) == {"QaApproved"}
	d.reasons[0].message == "Quinn approved v1.0.1 on staging at t1"
}

test_no_record_waits_for_qa if {
	d := promote.decision with input as request([])
	d.decision == "require-approval"
	d.requiredApprovals == [{
		"id": "qa@staging", "environment": "staging", "count": 1,
		"reason": "v1.0.1 has no qa approval on staging yet (kubectl promote approve staging v1.0.1 --role qa)",
		"verified": false,
	}]
}

test_later_rejection_wins if {
	d := promote.decision with input as request([approval("approved", "t1"), approval("rejected", "t2")])
	d.decision == "deny"
	d.reasons == [{"code": "QaRejected", "message": "v1.0.1 was rejected by qa on staging (Quinn, t2): because"}]
}

test_later_approval_wins_over_rejection if {
	d := promote.decision with input as request([approval("rejected", "t1"), approval("approved", "t2")])
	d.decision == "allow"
}

test_revocation_waits if {
	d := promote.decision with input as request([approval("approved", "t1"), approval("revoked", "t2")])
	d.decision == "require-approval"
	d.requiredApprovals[0].reason == "Quinn revoked the qa approval of v1.0.1 on staging at t2"
}

test_other_version_does_not_count if {
	a := object.union(approval("approved", "t1"), {"version": "v1.0.0"})
	d := promote.decision with input as request([a])
	d.decision == "require-approval"
}

test_approved_digest_must_match if {
	a := object.union(approval("approved", "t1"), {"images": {"cart": {"tag": "v1.0.1", "digest": "sha256:1111111111111111111111"}}})
	r := json.patch(request([a]), [
		{"op": "replace", "path": "/promotion/images/0/to/digest", "value": "sha256:2222222222222222222222"},
		{"op": "replace", "path": "/environments/staging/images/cart/digest", "value": "sha256:2222222222222222222222"},
	])
	d := promote.decision with input as r
	d.decision == "deny"
	d.reasons == [{"code": "QaApprovalImagesDiffer", "message": "cart: qa approved digest sha256:1111111111111111111111, the promotion sets sha256:2222222222222222222222"}]
}

test_tag_only_promotion_of_approved_digest_warns if {
	a := object.union(approval("approved", "t1"), {"images": {"cart": {"tag": "v1.0.1", "digest": "sha256:1111111111111111111111"}}})
	d := promote.decision with input as request([a])
	d.decision == "allow"
	d.warnings == ["cart: qa approved digest sha256:1111111111111111111111; the promotion pins the tag only"]
}

test_upstream_must_run_the_images if {
	r := json.patch(request([approval("approved", "t1")]), [{"op": "replace", "path": "/environments/staging/images/cart/tag", "value": "v1.0.2"}])
	d := promote.decision with input as r
	d.decision == "deny"
	d.reasons == [{"code": "UpstreamDiffers", "message": "staging runs cart v1.0.2, not v1.0.1"}]
}

test_environment_setting_overrides_from if {
	r := json.patch(request([approval("approved", "t1")]), [
		{"op": "replace", "path": "/settings", "value": {"environment": "qa-env"}},
		{"op": "add", "path": "/environments/qa-env", "value": {"images": {"cart": {"tag": "v1.0.1", "digest": null}}}},
	])
	d := promote.decision with input as r
	d.decision == "require-approval"
	d.requiredApprovals[0].id == "qa@qa-env"
}

test_an_upstream_on_another_version_denies if {
	r := json.patch(request([]), [
		{"op": "replace", "path": "/environments/staging", "value": {"version": "v1.0.0", "images": {"cart": {"tag": "v1.0.0", "digest": null}}}},
	])
	d := promote.decision with input as r
	d.decision == "deny"
	d.reasons == [{"code": "UpstreamDiffers", "message": "staging runs v1.0.0, not v1.0.1: promote staging first"}]
}

test_protected_targets_count_verified_approvals_only if {
	unsigned := object.union(approval("approved", "t1"), {"by": {"name": "Quinn", "email": "qa@example.com", "verified": false}})
	protected := json.patch(request([unsigned]), [{"op": "add", "path": "/environments/prod", "value": {"protected": true, "images": {}}}])
	d := promote.decision with input as protected
	d.decision == "require-approval"
	d.requiredApprovals[0].verified == true
	startswith(d.requiredApprovals[0].reason, "the qa approval of v1.0.1 on staging by Quinn is not verified, and prod counts verified approvals only: ")
	allowed := promote.decision with input as object.union(protected, {"settings": {"requireVerified": false}})
	allowed.decision == "allow"
	allowed.reasons[0].message == "Quinn (unverified) approved v1.0.1 on staging at t1"
	unprotected := promote.decision with input as request([unsigned])
	unprotected.decision == "allow"
}

test_no_upstream_denies if {
	r := json.patch(request([]), [{"op": "replace", "path": "/promotion/from", "value": null}])
	d := promote.decision with input as r
	codes(d) == {"NoUpstream"}
}

test_rollbacks_are_allowed_with_a_warning if {
	d := promote.decision with input as {"operation": "rollback", "settings": {}, "promotion": null, "approvals": []}
	d.decision == "allow"
	d.warnings == ["qa-approved only decides promotions"]
}

test_invalid_settings_leave_decision_undefined if {
	not promote.decision with input as object.union(request([]), {"settings": {"rol": "qa"}})
}

test_validate_settings if {
	promote.validate_settings.valid with input as {}
	promote.validate_settings.valid with input as {"role": "security", "environment": "staging"}
	not promote.validate_settings.valid with input as {"rol": "qa"}
	not promote.validate_settings.valid with input as {"role": ""}
	not promote.validate_settings.valid with input as "qa"
	promote.validate_settings.valid with input as {"requireVerified": false}
	not promote.validate_settings.valid with input as {"requireVerified": "no"}
}
