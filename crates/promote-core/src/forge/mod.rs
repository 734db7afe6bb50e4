//! Pull requests on a forge (GitHub, GitLab, Gitea/Forgejo), as the use cases see them.
//!
//! This module owns the pure half of "PR mode": which forge and repository a git remote points at
//! (with the `forge:` settings of `promote.yaml` winning over detection), the API and web base
//! URLs, the compare URL printed when there is no token, the types a forge answers with, the small
//! sync [`Forge`] trait the adapters (`promote-http`) implement, and the decisions made over what
//! it answers: reuse the open pull request of an environment for the same version, supersede it
//! for another ([`plan_pull_request`]; the `promote` crate drives the port with it), and count a
//! forge approval as a role's approval ([`role_approvals`]).
//! Nothing here does I/O; tokens are carried in [`Token`], which never prints its value.

mod approvals;
mod error;
mod kind;
mod port;
mod promotion;
mod pull;
mod remote;
mod target;
mod token;

pub use approvals::{RoleApproval, is_placeholder_email, role_approvals};
pub use error::ForgeError;
pub use kind::ForgeKind;
pub use port::Forge;
pub use promotion::{PrPlan, env_label, plan_pull_request, supersede_comment};
pub use pull::{
    ForgeUser, NewPullRequest, PrEdit, PrQuery, PrResolution, PrState, PullRequest, Review,
    ReviewState,
};
pub use remote::{RemoteUrl, RepoPath, redact_userinfo};
pub use target::{ForgeSettings, ForgeTarget, encode_component, encode_path};
pub use token::Token;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn remote(url: &str) -> RemoteUrl {
        RemoteUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    fn target(url: &str) -> ForgeTarget {
        ForgeTarget::resolve(Some(url), &ForgeSettings::default())
            .unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn https_ssh_and_scp_like_remotes_name_the_same_repository() {
        for url in [
            "https://github.com/acme/gitops.git",
            "https://github.com/acme/gitops",
            "https://github.com/acme/gitops/",
            "git@github.com:acme/gitops.git",
            "git@github.com:/acme/gitops.git",
            "ssh://git@github.com/acme/gitops.git",
            "ssh://git@ssh.github.com:443/acme/gitops.git",
            "https://x-access-token:secret@github.com/acme/gitops.git",
        ] {
            let t = target(url);
            assert_eq!(t.kind, ForgeKind::GitHub, "{url}");
            assert_eq!(t.repo.as_str(), "acme/gitops", "{url}");
            assert_eq!(t.api_url, "https://api.github.com", "{url}");
            assert_eq!(t.web_url, "https://github.com", "{url}");
            assert_eq!(t.token_env, "GITHUB_TOKEN", "{url}");
        }
    }

    #[test]
    fn self_hosted_gitlab_keeps_subgroups_and_the_https_port() {
        let t = target("https://gitlab.example.com:8443/platform/deploy/gitops.git");
        assert_eq!(t.kind, ForgeKind::GitLab);
        assert_eq!(t.repo.as_str(), "platform/deploy/gitops");
        assert_eq!(t.repo.owner(), "platform/deploy");
        assert_eq!(t.repo.name(), "gitops");
        assert_eq!(t.api_url, "https://gitlab.example.com:8443/api/v4");
        assert_eq!(t.web_url, "https://gitlab.example.com:8443");
        assert_eq!(t.token_env, "GITLAB_TOKEN");
    }

    #[test]
    fn an_ssh_port_is_not_the_web_port() {
        let t = target("ssh://git@gitlab.example.com:2222/group/sub/repo.git");
        assert_eq!(t.api_url, "https://gitlab.example.com/api/v4");
        assert_eq!(t.repo.as_str(), "group/sub/repo");
    }

    #[test]
    fn gitea_and_forgejo_hosts_are_detected() {
        for (url, api) in [
            (
                "https://codeberg.org/acme/gitops.git",
                "https://codeberg.org/api/v1",
            ),
            (
                "git@gitea.example.com:acme/gitops.git",
                "https://gitea.example.com/api/v1",
            ),
            (
                "https://forgejo.internal/acme/gitops",
                "https://forgejo.internal/api/v1",
            ),
        ] {
            let t = target(url);
            assert_eq!(t.kind, ForgeKind::Gitea, "{url}");
            assert_eq!(t.api_url, api, "{url}");
            assert_eq!(t.token_env, "GITEA_TOKEN");
        }
    }

    #[test]
    fn github_enterprise_cloud_api_is_on_the_api_subdomain() {
        let t = target("https://acme.ghe.com/platform/gitops.git");
        assert_eq!(t.api_url, "https://api.acme.ghe.com");
        assert_eq!(t.web_url, "https://acme.ghe.com");
    }

    #[test]
    fn an_unknown_host_asks_for_forge_type() {
        let err = ForgeTarget::resolve(
            Some("git@git.example.com:acme/gitops.git"),
            &ForgeSettings::default(),
        )
        .unwrap_err();
        assert!(matches!(&err, ForgeError::UnknownForge { host } if host == "git.example.com"));
        assert!(err.to_string().contains("forge.type"), "{err}");
    }

    #[test]
    fn settings_win_over_detection() {
        let settings = ForgeSettings {
            kind: Some(ForgeKind::GitHub),
            url: Some("https://git.example.com/api/v3/".into()),
            repo: Some(RepoPath::parse("platform/gitops").unwrap()),
            token_env: Some("GHE_TOKEN".into()),
        };
        let t =
            ForgeTarget::resolve(Some("git@git.example.com:acme/other.git"), &settings).unwrap();
        assert_eq!(t.kind, ForgeKind::GitHub);
        assert_eq!(t.api_url, "https://git.example.com/api/v3");
        assert_eq!(t.web_url, "https://git.example.com");
        assert_eq!(t.repo.as_str(), "platform/gitops");
        assert_eq!(t.token_env, "GHE_TOKEN");
    }

    #[test]
    fn the_api_github_com_setting_keeps_github_com_as_the_web_root() {
        let settings = ForgeSettings {
            kind: Some(ForgeKind::GitHub),
            url: Some("https://api.github.com".into()),
            repo: Some(RepoPath::parse("acme/gitops").unwrap()),
            token_env: Some("GITHUB_TOKEN".into()),
        };
        let t = ForgeTarget::resolve(None, &settings).unwrap();
        assert_eq!(
            (t.api_url.as_str(), t.web_url.as_str()),
            ("https://api.github.com", "https://github.com")
        );
        let err = ForgeTarget::resolve(None, &ForgeSettings::default()).unwrap_err();
        assert!(matches!(err, ForgeError::NoRemote), "{err}");
    }

    #[test]
    fn a_web_root_setting_gets_the_vendors_api_path() {
        let settings = ForgeSettings {
            kind: Some(ForgeKind::Gitea),
            url: Some("http://127.0.0.1:3000".into()),
            ..ForgeSettings::default()
        };
        let t =
            ForgeTarget::resolve(Some("http://127.0.0.1:3000/acme/gitops.git"), &settings).unwrap();
        assert_eq!(t.api_url, "http://127.0.0.1:3000/api/v1");
        assert_eq!(t.web_url, "http://127.0.0.1:3000");
    }

    #[test]
    fn a_local_remote_needs_every_setting() {
        let err =
            ForgeTarget::resolve(Some("/tmp/remote.git"), &ForgeSettings::default()).unwrap_err();
        assert!(
            matches!(err, ForgeError::UnrecognizedRemote { .. }),
            "{err}"
        );
        let settings = ForgeSettings {
            kind: Some(ForgeKind::GitLab),
            url: Some("http://127.0.0.1:1234/api/v4".into()),
            repo: Some(RepoPath::parse("group/sub/repo").unwrap()),
            token_env: None,
        };
        let t = ForgeTarget::resolve(Some("/tmp/remote.git"), &settings).unwrap();
        assert_eq!(t.api_url, "http://127.0.0.1:1234/api/v4");
        assert_eq!(t.web_url, "http://127.0.0.1:1234");
    }

    #[test]
    fn credentials_in_urls_are_never_shown() {
        let err = RemoteUrl::parse("https://oauth2:glpat-SECRET@gitlab.com/").unwrap_err();
        assert!(!err.to_string().contains("SECRET"), "{err}");
        assert!(!format!("{err:?}").contains("SECRET"));
        let settings = ForgeSettings {
            kind: Some(ForgeKind::GitLab),
            url: Some("https://u:SECRET@gitlab.example.com".into()),
            ..Default::default()
        };
        let err =
            ForgeTarget::resolve(Some("git@gitlab.example.com:a/b.git"), &settings).unwrap_err();
        assert!(!err.to_string().contains("SECRET"), "{err}");
        assert!(err.to_string().contains("tokenEnv"), "{err}");
    }

    #[test]
    fn github_and_gitea_repositories_have_exactly_two_segments() {
        let err = ForgeTarget::resolve(
            Some("https://github.com/acme/gitops/tree/main"),
            &ForgeSettings::default(),
        )
        .unwrap_err();
        assert!(matches!(err, ForgeError::InvalidRepo { .. }), "{err}");
    }

    #[test]
    fn not_a_repository() {
        assert!(RemoteUrl::parse("https://github.com/acme").is_err());
        assert!(RemoteUrl::parse("file:///srv/git/gitops.git").is_err());
        assert!(RepoPath::parse("acme//gitops").is_err());
        assert_eq!(remote("git@github.com:acme/gitops.git").web_root, None);
        assert_eq!(
            remote("http://127.0.0.1:8080/a/b").web_root.as_deref(),
            Some("http://127.0.0.1:8080")
        );
    }

    #[test]
    fn compare_urls_follow_each_vendor() {
        let gh = target("git@github.com:acme/gitops.git");
        assert_eq!(
            gh.compare_url("main", "promote/prod/v1.0.1"),
            "https://github.com/acme/gitops/compare/main...promote/prod/v1.0.1?expand=1"
        );
        let gl = target("https://gitlab.com/group/sub/gitops.git");
        assert_eq!(
            gl.compare_url("main", "promote/prod/v1.0.1"),
            "https://gitlab.com/group/sub/gitops/-/merge_requests/new?merge_request%5Bsource_branch%5D=promote%2Fprod%2Fv1.0.1&merge_request%5Btarget_branch%5D=main"
        );
        let gt = target("https://codeberg.org/acme/gitops.git");
        assert_eq!(
            gt.compare_url("main", "release #1"),
            "https://codeberg.org/acme/gitops/compare/main...release%20%231"
        );
    }

    #[test]
    fn gitlab_project_ids_are_url_encoded() {
        assert_eq!(encode_component("group/sub/repo"), "group%2Fsub%2Frepo");
        assert_eq!(encode_component("a b+c"), "a%20b%2Bc");
        assert_eq!(encode_path("promote/prod/v1.0.1"), "promote/prod/v1.0.1");
    }

    #[test]
    fn forge_type_values() {
        assert_eq!(ForgeKind::from_config("Forgejo").unwrap(), ForgeKind::Gitea);
        assert!(
            ForgeKind::from_config("bitbucket")
                .unwrap_err()
                .to_string()
                .contains("bitbucket")
        );
    }

    #[test]
    fn tokens_never_print() {
        let token = Token::new("ghp_SECRET").unwrap();
        assert_eq!(format!("{token:?}"), "Token(***)");
        assert_eq!(token.scrub("bad ghp_SECRET here"), "bad *** here");
        assert!(Token::new("  ").is_none());
    }

    fn pr(number: u64, head: &str) -> PullRequest {
        PullRequest {
            number,
            url: format!("https://example/pr/{number}"),
            title: format!("Promote {head}"),
            body: String::new(),
            head: head.into(),
            head_sha: None,
            base: "main".into(),
            state: PrState::Open,
            labels: vec![],
            author: None,
        }
    }

    #[test]
    fn same_head_is_reused_and_others_are_superseded() {
        let open = [
            pr(3, "promote/prod/v1"),
            pr(5, "promote/prod/v2"),
            pr(5, "promote/prod/v2"),
        ];
        let plan = plan_pull_request(&open, "promote/prod/v2");
        assert_eq!(plan.reuse.map(|p| p.number), Some(5));
        assert_eq!(
            plan.supersede.iter().map(|p| p.number).collect::<Vec<_>>(),
            [3]
        );
        let plan = plan_pull_request(&open, "promote/prod/v3");
        assert_eq!(plan.reuse, None);
        assert_eq!(plan.supersede.len(), 2);
    }

    fn review(who: &str, state: ReviewState, commit: Option<&str>) -> Review {
        Review {
            reviewer: who.into(),
            state,
            commit: commit.map(Into::into),
            submitted_at: None,
            email: None,
        }
    }

    #[test]
    fn a_listed_reviewers_latest_approval_counts_for_the_role() {
        let approvers = BTreeMap::from([
            (
                "pm".to_owned(),
                vec!["github:PM-Lead".to_owned(), "pm@example.com".to_owned()],
            ),
            (
                "qa".to_owned(),
                vec!["qa-bot".to_owned(), "gitlab:carol".to_owned()],
            ),
        ]);
        let reviews = [
            review("pm-lead", ReviewState::Approved, Some("abc")),
            review("pm-lead", ReviewState::Commented, Some("abc")),
            review("qa-bot", ReviewState::Approved, Some("abc")),
            review("qa-bot", ReviewState::ChangesRequested, Some("abc")),
            review("carol", ReviewState::Approved, Some("abc")),
            review("mallory", ReviewState::Approved, Some("abc")),
        ];
        let got = role_approvals(ForgeKind::GitHub, &reviews, Some("abc"), &approvers);
        assert_eq!(
            got,
            [RoleApproval {
                role: "pm".into(),
                login: "pm-lead".into(),
                email: None,
            }]
        );
    }

    /// Testbed finding G1: an approver listed by e-mail counts through the e-mail the forge
    /// shows for the reviewer's account, and never through a placeholder address.
    #[test]
    fn an_approver_listed_by_email_counts_by_the_email_the_forge_shows() {
        let approvers = BTreeMap::from([("pm".to_owned(), vec!["PM@example.com".to_owned()])]);
        let shown = |email: Option<&str>| Review {
            email: email.map(Into::into),
            ..review("pat", ReviewState::Approved, None)
        };
        assert_eq!(
            role_approvals(
                ForgeKind::Gitea,
                &[shown(Some("pm@example.com"))],
                None,
                &approvers
            ),
            [RoleApproval {
                role: "pm".into(),
                login: "pat".into(),
                email: Some("pm@example.com".into()),
            }]
        );
        for other in [
            None,
            Some("4+pat@noreply.localhost"),
            Some("12345+pat@users.noreply.github.com"),
            Some("pat@users.noreply.gitlab.com"),
            Some("someone@example.com"),
            Some("pm@example.com.evil"),
        ] {
            let got = role_approvals(ForgeKind::Gitea, &[shown(other)], None, &approvers);
            assert!(got.is_empty(), "{other:?}: {got:?}");
        }
        assert!(is_placeholder_email("pm@noreply.example.org"));
        assert!(is_placeholder_email("no e-mail"));
        assert!(!is_placeholder_email("pm@example.com"));
    }

    #[test]
    fn an_approval_of_an_older_commit_does_not_count() {
        let approvers = BTreeMap::from([("pm".to_owned(), vec!["alice".to_owned()])]);
        let reviews = [review("alice", ReviewState::Approved, Some("old"))];
        assert!(role_approvals(ForgeKind::Gitea, &reviews, Some("new"), &approvers).is_empty());
        assert_eq!(
            role_approvals(ForgeKind::Gitea, &reviews, None, &approvers).len(),
            1
        );
        let dismissed = [
            review("alice", ReviewState::Approved, None),
            review("alice", ReviewState::Dismissed, None),
        ];
        assert!(role_approvals(ForgeKind::Gitea, &dismissed, None, &approvers).is_empty());
    }
}
