package promote_test

import data.promote

issuer := "https://token.actions.githubusercontent.com"

release := "https://github.com/acme/shop/.github/workflows/release.yml@refs/heads/main"

settings := {"identities": [{"issuer": issuer, "subject": release}]}

request(signatures) := {
	"operation": "promote",
	"settings": settings,
	"promotion": {"images": [{"name": "cart", "supplyChain": {"signatures": signatures, "provenance": null}}]},
}

signed_by(subject, verified) := {"verified": verified, "key": null, "identity": {"issuer": issuer, "subject": subject}}

test_allows_the_release_workflow if {
	d := promote.decision with input as request([signed_by(release, true)])
	d.decision == "allow"
}

test_denies_another_workflow if {
	d := promote.decision with input as request([signed_by("https://github.com/acme/shop/.github/workflows/dev.yml@refs/heads/dev", true)])
	d.decision == "deny"
	d.reasons[0].code == "NoTrustedSigner"
	contains(d.reasons[0].message, "dev.yml")
}

test_denies_an_unverified_signature if {
	d := promote.decision with input as request([signed_by(release, false)])
	d.decision == "deny"
}

test_denies_key_based_only if {
	d := promote.decision with input as request([{"verified": true, "key": "keys/release.pub"}])
	d.decision == "deny"
}

test_prefixes if {
	d := promote.decision with input as object.union(request([signed_by(release, true)]), {"settings": {"prefixes": ["https://github.com/acme/shop/"]}})
	d.decision == "allow"
}

test_settings if {
	promote.validate_settings.valid with input as settings
	not promote.validate_settings.valid with input as {}
	not promote.validate_settings.valid with input as {"identities": [{"issuer": issuer}]}
	not promote.validate_settings.valid with input as {"prefixes": ["x"], "other": 1}
}
