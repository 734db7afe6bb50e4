//! `diff ENV --between REV1 REV2` against real git and `kubectl kustomize`: two revisions of an
//! environment rendered and compared object by object.

use promote::diff::{Between, between};
use promote::render::{RenderProgram, Renderer};
use promote::{Ports, PromoteError, Quiet, Workspace};
use promote_core::render_diff::Change;
use promote_testkit::repo::{GitOps, workspace_root};

fn ports(kit: &GitOps) -> Ports {
    Ports::new(
        Workspace {
            cwd: kit.clone.clone(),
            cache_dir: kit.home.join(".cache/kubectl-promote"),
            ..Default::default()
        },
        Renderer {
            program: RenderProgram::Kubectl("kubectl".into()),
            helm: "helm".into(),
            cache: None,
            speculation: None,
        },
    )
}

#[test]
fn two_revisions_of_an_environment_differ_by_the_objects_their_edit_touches() {
    let mut kit = GitOps::from_dir(&workspace_root().join("examples/gitops"));
    let before = kit.origin_head();
    let overlay = kit
        .origin_file("kustomize/staging/kustomization.yaml")
        .unwrap()
        .replacen("newTag: v1.0.0", "newTag: v1.0.1", 1)
        .replace(
            "resources:\n- ../base\n",
            "resources:\n- ../base\n- secret.yaml\n",
        );
    kit.put("kustomize/staging/kustomization.yaml", &overlay);
    kit.put(
        "kustomize/staging/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\ndata: {password: c2VjcmV0}\n",
    );
    let after = kit.commit("cart v1.0.1 and a Secret");
    let report = between(
        &ports(&kit),
        &Between {
            env: "staging".into(),
            from: before.clone(),
            to: after.clone(),
        },
        &Quiet,
    )
    .unwrap();
    let got: Vec<_> = report
        .render_diff
        .iter()
        .map(|o| (o.id.as_str(), o.change))
        .collect();
    assert_eq!(
        got,
        [
            ("Secret microservices-demo-staging/db", Change::Added),
            (
                "apps/Deployment microservices-demo-staging/cartservice",
                Change::Changed
            ),
        ]
    );
    let cart = &report.render_diff[1];
    assert_eq!(cart.fields, ["spec.template.spec.containers[server].image"]);
    assert!(!report.render_diff[0].patch.contains("c2VjcmV0"));
    assert_eq!(report.to.commit, after);

    // The other way round is what a rollback would undo.
    let back = between(
        &ports(&kit),
        &Between {
            env: "staging".into(),
            from: after,
            to: before,
        },
        &Quiet,
    )
    .unwrap();
    assert_eq!(back.render_diff[0].change, Change::Removed);

    let err = between(
        &ports(&kit),
        &Between {
            env: "staging".into(),
            from: "no-such-rev".into(),
            to: "HEAD".into(),
        },
        &Quiet,
    )
    .unwrap_err();
    assert!(matches!(err, PromoteError::Usage(_)), "{err}");
    assert!(err.to_string().contains("no-such-rev"), "{err}");
}
