# qa-approved, in Rego: a promotion needs QA's approval of this version in the upstream
# environment, bound to the same images, and the upstream overlay must run those images.
#
# The same rule as `builtin:qa-approved` (policies/qa-approved, Rust), kept faithful so the two
# can be compared: the upstream must run the promoted images ("staging runs v1.0.1, not v1.0.2:
# promote staging first"); the record in force is the latest for (upstream, version, role); a
# rejection denies with its note, a revocation or no record at all waits for approval, an
# approval must cover every promoted image with the same tag (and digest, where QA recorded one).
# requireVerified (default: the target environment's `protected`) counts only approvals the host
# verified; an unverified one is then as if it was not given.
#
# ABI promote.opa/v1: `input` is the EvaluationRequest, `decision` is the Decision. The optional
# `validate_settings` entrypoint gets the settings as input and answers {valid, message}.
# Messages are built with concat, not sprintf: in OPA's wasm, sprintf is a host builtin, and
# opa-wasm's knows only C verbs (%s, %d), not Go's %v or %q.
#
# Build: opa build -t wasm -e promote/decision -e promote/validate_settings -b . --ignore '*_test.rego'
package promote

# ---- settings --------------------------------------------------------------------------------

known_settings := {"role", "environment", "requireVerified"}

settings_problems contains msg if {
	not is_object(input)
	msg := "settings must be an object"
}

settings_problems contains msg if {
	is_object(input)
	some key, _ in input
	not key in known_settings
	msg := concat("", ["unknown settings key ", `"`, key, `"`, " (known: environment, requireVerified, role)"])
}

settings_problems contains "role must be a string" if {
	is_object(input)
	not is_string(object.get(input, "role", ""))
}

settings_problems contains "role must not be empty" if {
	is_object(input)
	input.role == ""
}

settings_problems contains "environment must be a string or null" if {
	is_object(input)
	env := object.get(input, "environment", null)
	env != null
	not is_string(env)
}

settings_problems contains "requireVerified must be true, false or null" if {
	is_object(input)
	v := object.get(input, "requireVerified", null)
	v != null
	not is_boolean(v)
}

validate_settings := {"valid": true} if {
	count(settings_problems) == 0
} else := {"valid": false, "message": concat("; ", sort(settings_problems))}

# In `decision`, the settings come in the request. Invalid settings leave `decision` undefined,
# which the host reports as a policy error (as the Rust policy fails on them); `validate_settings`
# runs first, when the configuration loads, so this is only reached through `policy eval`.
settings_ok if {
	is_object(input.settings)
	every key, _ in input.settings {
		key in known_settings
	}
	is_string(role)
	role != ""
}

role := object.get(input.settings, "role", "qa")

# ---- decision --------------------------------------------------------------------------------

api := {"apiVersion": "policy.promote.kubectl.io/v1alpha1", "kind": "Decision"}

p := input.promotion

decision := object.union(api, {"decision": "allow", "warnings": ["qa-approved only decides promotions"]}) if {
	settings_ok
	p == null
} else := object.union(api, {
	"decision": "deny",
	"reasons": [{"code": "NoUpstream", "message": concat("", [p.environment, " has no upstream environment to look for a ", role, " approval in; promote with --from ENV or set `environment` in the policy settings"])}],
}) if {
	settings_ok
	not upstream
} else := object.union(api, {
	"decision": "deny",
	"reasons": upstream_denial,
}) if {
	settings_ok
	count(upstream_denial) > 0
} else := wait(not_verified(unverified)) if {
	settings_ok
	not record
	unverified
} else := wait(concat("", [p.version, " has no ", role, " approval on ", upstream, " yet (kubectl promote approve ", upstream, " ", p.version, " --role ", role, ")"])) if {
	settings_ok
	not record
} else := object.union(api, {
	"decision": "deny",
	"reasons": [{"code": "QaRejected", "message": concat("", [p.version, " was rejected by ", role, " on ", upstream, " (", who, ", ", record.at, "): ", note])}],
}) if {
	settings_ok
	record.verdict == "rejected"
} else := wait(not_verified(unverified)) if {
	settings_ok
	record.verdict == "revoked"
	unverified
} else := wait(concat("", [who, " revoked the ", role, " approval of ", p.version, " on ", upstream, " at ", record.at])) if {
	settings_ok
	record.verdict == "revoked"
} else := object.union(api, {
	"decision": "allow",
	"reasons": [{"code": "QaApproved", "message": concat("", [who, unverified_note, " approved ", p.version, " on ", upstream, " at ", record.at])}],
	"warnings": image_warnings,
}) if {
	settings_ok
	record.verdict == "approved"
	count(image_reasons) == 0
} else := object.union(api, {
	"decision": "deny",
	"reasons": image_reasons,
	"warnings": image_warnings,
}) if {
	settings_ok
	record.verdict == "approved"
}

wait(why) := object.union(api, {
	"decision": "require-approval",
	"requiredApprovals": [{"id": concat("", [role, "@", upstream]), "environment": upstream, "count": 1, "reason": why, "verified": require_verified}],
})

# Only verified approvals count: the setting, else whether the target environment is protected.
require_verified := input.settings.requireVerified if {
	is_boolean(input.settings.requireVerified)
} else := object.get(object.get(input.environments, p.environment, {}), "protected", false)

# Where only verified approvals count, an unverified approval is as if it was not given.
counts(r) if not require_verified

counts(r) if r.verdict != "approved"

counts(r) if r.by.verified == true

not_verified(r) := concat("", ["the ", role, " approval of ", p.version, " on ", upstream, " by ", name_of(r), " is not verified, and ", p.environment, " counts verified approvals only: ", sign_fix])

sign_fix := "sign approvals with a key listed in promote.yaml's approverKeys (ssh: `git config gpg.format ssh`, `git config user.signingkey ~/.ssh/id_ed25519`, `git config commit.gpgsign true`, and add `EMAIL ssh-ed25519 AAAA…` to the approverKeys.ssh file on the base branch), then approve again; or set requireVerified: false for this policy"

unverified_note := "" if record.by.verified == true

else := " (unverified)"

# ---- upstream --------------------------------------------------------------------------------

# The upstream must run what is promoted: one sentence when it runs another version, one reason
# per image otherwise.
upstream_env := object.get(input.environments, upstream, null)

upstream_denial := [{"code": "UpstreamDiffers", "message": concat("", [upstream, " is not an environment of this repository's configuration, so nothing there can be approved"])}] if {
	upstream_env == null
} else := [{"code": "UpstreamDiffers", "message": concat("", [upstream, " runs ", upstream_version, ", not ", p.version, ": promote ", upstream, " first"])}] if {
	count(upstream_image_reasons) > 0
	upstream_tags_differ
	upstream_version != "mixed"
	upstream_version != ""
	upstream_version != p.version
} else := upstream_image_reasons

upstream_version := object.get(upstream_env, "version", "")

upstream_image_reasons := [r |
	some img in p.images
	some r in upstream_reasons(img)
]

upstream_tags_differ if {
	some img in p.images
	running := upstream_env.images[img.name]
	object.get(running, "tag", null) != object.get(img.to, "tag", null)
}

# Where QA tests: the settings' environment, else the promotion's `from`.
upstream := input.settings.environment if {
	is_string(input.settings.environment)
} else := p.from if {
	is_string(p.from)
}

# The record in force: the last one for (upstream, version, role) that counts; approvals are in
# time order.
for_version := [i |
	some i, r in input.approvals
	r.environment == upstream
	r.version == p.version
	r.role == role
]

matching := [i | some i in for_version; counts(input.approvals[i])]

record := input.approvals[max(matching)] if count(matching) > 0

# The most recent unverified approval newer than the record in force (all, without one).
newer_unverified := [i | some i in for_version; not counts(input.approvals[i]); i > max(matching)] if {
	count(matching) > 0
} else := [i | some i in for_version; not counts(input.approvals[i])]

unverified := input.approvals[max(newer_unverified)] if count(newer_unverified) > 0

who := name_of(record)

name_of(r) := name if {
	name := r.by.name
	is_string(name)
} else := email if {
	email := r.by.email
	is_string(email)
} else := "someone"

note := n if {
	n := record.note
	is_string(n)
} else := "no reason given"

# ---- images ----------------------------------------------------------------------------------

# Per image, in the promotion's order: does the approval cover it? (That upstream runs it was
# checked first.)
image_reasons := [r |
	some img in p.images
	some r in approval_reasons(img)
]

image_warnings := [w |
	some img in p.images
	approved := record.images[img.name]
	object.get(approved, "tag", null) == object.get(img.to, "tag", null)
	a := object.get(approved, "digest", null)
	a != null
	object.get(img.to, "digest", null) == null
	w := concat("", [img.name, ": ", role, " approved digest ", a, "; the promotion pins the tag only"])
]

approval_reasons(img) := [{"code": "QaApprovalImagesDiffer", "message": concat("", ["the ", role, " approval of ", p.version, " does not cover image ", img.name])}] if {
	not record.images[img.name]
} else := [{"code": "QaApprovalImagesDiffer", "message": concat("", [img.name, ": ", role, " approved ", show_image(record.images[img.name]), ", the promotion sets ", show_image(img.to)])}] if {
	object.get(record.images[img.name], "tag", null) != object.get(img.to, "tag", null)
} else := [{"code": "QaApprovalImagesDiffer", "message": concat("", [img.name, ": ", role, " approved digest ", a, ", the promotion sets ", b])}] if {
	a := object.get(record.images[img.name], "digest", null)
	b := object.get(img.to, "digest", null)
	a != null
	b != null
	a != b
} else := []

upstream_reasons(img) := [] if {
	same_image(img.to, input.environments[upstream].images[img.name])
} else := [{"code": "UpstreamDiffers", "message": concat("", [upstream, " runs ", img.name, " ", show_image(running), ", not ", show_image(img.to)])}] if {
	running := input.environments[upstream].images[img.name]
} else := [{"code": "UpstreamDiffers", "message": concat("", [upstream, "'s overlay does not run image ", img.name])}]

# The wanted tag, and the wanted digest when one is set.
same_image(wanted, actual) if {
	object.get(wanted, "tag", null) == object.get(actual, "tag", null)
	object.get(wanted, "digest", null) == null
}

same_image(wanted, actual) if {
	object.get(wanted, "tag", null) == object.get(actual, "tag", null)
	object.get(wanted, "digest", null) == object.get(actual, "digest", null)
}

# `v1.0.1@sha256:abcd…` (the digest's first 19 characters) or `v1.0.1`, for messages.
show_image(ref) := concat("", [tag_of(ref), "@", substring(ref.digest, 0, 19)]) if {
	is_string(ref.digest)
} else := tag_of(ref)

tag_of(ref) := ref.tag if is_string(ref.tag)

else := "<no tag>"
