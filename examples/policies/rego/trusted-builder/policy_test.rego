package promote_test

import data.promote

release := "https://github.com/acme/shop/.github/workflows/release.yml@refs/heads/main"

settings := {"builders": [release]}

request(provenance) := {
	"operation": "promote",
	"settings": settings,
	"promotion": {"images": [{"name": "cart", "supplyChain": {"signatures": [], "provenance": provenance}}]},
}

test_allows_the_release_workflow_of_main if {
	d := promote.decision with input as request({"builder": release, "sourceRef": "refs/heads/main"})
	d.decision == "allow"
}

test_denies_another_branch if {
	d := promote.decision with input as request({"builder": release, "sourceRef": "refs/heads/feature"})
	d.decision == "deny"
	d.reasons[0].code == "WrongSourceBranch"
}

test_denies_another_builder if {
	d := promote.decision with input as request({"builder": "https://laptop.example", "sourceRef": "refs/heads/main"})
	d.decision == "deny"
	d.reasons[0].code == "UntrustedBuilder"
}

test_denies_missing_provenance if {
	d := promote.decision with input as request(null)
	d.decision == "deny"
	d.reasons[0].code == "NoProvenance"
}

test_settings if {
	promote.validate_settings.valid with input as settings
	not promote.validate_settings.valid with input as {"builders": []}
	not promote.validate_settings.valid with input as {"builders": [release], "other": 1}
}
