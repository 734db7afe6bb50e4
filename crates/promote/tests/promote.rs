//! The promotion use case against real git: bare remotes in temp dirs, two users racing; and
//! its pull request through the HTTP forge client against the fake forges ([`pull_requests`]).

// In a directory of its own: every `tests/*.rs` is a test binary of its own.
#[path = "promote/pull_requests.rs"]
mod pull_requests;

use promote::gate::{Gate, PolicyContext};
use promote::images::ImageCheck;
use promote::plan::{Landed, Prepared};
use promote::promotion::{Planner, PromoteRequest, TargetSpec, apply};
use promote::render::{RenderProgram, Renderer};
use promote::{Ports, PromoteError, Quiet, Session, Workspace};
use promote_testkit::repo::{GitOps, workspace_root};

fn examples() -> GitOps {
    GitOps::from_dir(&workspace_root().join("examples/gitops"))
}

fn renderer() -> Renderer {
    Renderer {
        program: RenderProgram::Kubectl("kubectl".into()),
        helm: "helm".into(),
        cache: None,
        speculation: None,
    }
}

/// A second user's clone of the same origin.
fn second_clone(kit: &GitOps) -> std::path::PathBuf {
    let dir = kit.root().join("other");
    kit.git_in(
        kit.root(),
        &["clone", "--quiet", kit.origin.to_str().unwrap(), "other"],
    );
    dir
}

fn workspace(kit: &GitOps, dir: &std::path::Path) -> Workspace {
    Workspace {
        cwd: dir.to_owned(),
        cache_dir: kit.home.join(".cache/kubectl-promote"),
        ..Default::default()
    }
}

fn open(kit: &GitOps, dir: &std::path::Path) -> Session {
    Session::open(&workspace(kit, dir), &Quiet).unwrap()
}

/// Plan a promotion on `session` with no Argo CD, forge or registry (the images unchecked).
fn prepare(
    session: &Session,
    req: &PromoteRequest,
    renderer: &Renderer,
    ui: &dyn promote::Interaction,
) -> Result<Prepared, PromoteError> {
    let ports = Ports::new(Workspace::default(), renderer.clone());
    let context = PolicyContext::default();
    let planner = Planner {
        gate: Gate {
            ports: &ports,
            session,
            context: &context,
        },
        renderer,
        images: &ImageCheck::Skip,
    };
    promote::promotion::prepare(&planner, req, ui)
}

fn request(env: &str, version: &str) -> PromoteRequest {
    PromoteRequest {
        env: env.into(),
        target: TargetSpec::Version(version.into()),
        only: vec![],
        digests: Default::default(),
        drop_digests: false,
        mode: Some(promote_core::config::Mode::Direct),
        message: None,
        author: Some("Ana <ana@example.com>".parse().unwrap()),
    }
}

fn ready(p: Prepared) -> Box<promote::plan::Plan> {
    match p {
        Prepared::Ready(plan) => plan,
        Prepared::AlreadyAt { .. } => panic!("expected a change"),
    }
}

#[test]
fn racing_promotions_of_different_environments_both_land() {
    let kit = examples();
    let other = second_clone(&kit);
    let a = open(&kit, &kit.clone);
    let b = open(&kit, &other);
    let plan_a = ready(prepare(&a, &request("staging", "v1.0.1"), &renderer(), &Quiet).unwrap());
    let plan_b = ready(prepare(&b, &request("prod", "v1.0.1"), &renderer(), &Quiet).unwrap());
    assert!(matches!(
        apply(&a, &plan_a, &renderer(), &Quiet).unwrap(),
        Landed::Pushed { attempts: 1, .. }
    ));
    let landed = apply(&b, &plan_b, &renderer(), &Quiet).unwrap();
    assert!(
        matches!(landed, Landed::Pushed { attempts: 2, .. }),
        "{landed:?}"
    );
    // History is linear and both edits are there.
    let log = kit.origin_git(&["log", "--format=%s", "--first-parent", "main"]);
    assert_eq!(
        log.lines().take(2).collect::<Vec<_>>(),
        [
            "promote prod to v1.0.1 (from staging)",
            "promote staging to v1.0.1"
        ]
    );
    assert!(
        kit.origin_file("kustomize/staging/kustomization.yaml")
            .unwrap()
            .contains("newTag: v1.0.1")
    );
    assert!(
        kit.origin_file("kustomize/prod/kustomization.yaml")
            .unwrap()
            .contains("newTag: v1.0.1")
    );
    assert_eq!(
        kit.origin_git(&["rev-list", "--merges", "--count", "main"])
            .trim(),
        "0"
    );
}

#[test]
fn racing_promotions_of_one_environment_one_wins_the_other_stops() {
    let kit = examples();
    let other = second_clone(&kit);
    let a = open(&kit, &kit.clone);
    let b = open(&kit, &other);
    let plan_a = ready(prepare(&a, &request("prod", "v1.0.1"), &renderer(), &Quiet).unwrap());
    let plan_b = ready(prepare(&b, &request("prod", "v1.0.2"), &renderer(), &Quiet).unwrap());
    apply(&a, &plan_a, &renderer(), &Quiet).unwrap();
    let head = kit.origin_head();
    let err = apply(&b, &plan_b, &renderer(), &Quiet).unwrap_err();
    assert!(matches!(err, PromoteError::Raced { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("prod changed from v1.0.0 to v1.0.1 while you promoted"),
        "{err}"
    );
    assert_eq!(kit.origin_head(), head, "the loser pushed nothing");
}

#[test]
fn prepare_writes_nothing() {
    let kit = examples();
    let before = (kit.origin_head(), kit.clone_state());
    let objects_before = kit.git(&["count-objects", "-v"]);
    let s = open(&kit, &kit.clone);
    ready(prepare(&s, &request("prod", "v1.0.1"), &renderer(), &Quiet).unwrap());
    assert_eq!((kit.origin_head(), kit.clone_state()), before);
    assert_eq!(
        kit.git(&["count-objects", "-v"]),
        objects_before,
        "no objects written by a plan"
    );
}

/// The render key holds what kustomize can read: the overlay's directory and the directories of
/// the kustomizations it loads, not the whole tree.
#[test]
fn the_render_key_changes_only_with_what_the_render_reads() {
    let mut kit = GitOps::new()
        .file("promote.yaml", "apiVersion: promote.kubectl.io/v1alpha1\nkind: PromotionConfig\nenvironments:\n  - {name: prod, overlay: envs/prod}\n")
        .file("base/kustomization.yaml", "resources: [deploy.yaml]\n")
        .file("base/deploy.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
        .file("comp/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n")
        .file("envs/prod/kustomization.yaml", "resources: [../../base]\ncomponents: [../../comp]\nimages:\n- {name: reg/a, newTag: v1}\n")
        .file("envs/staging/kustomization.yaml", "resources: [../../base]\nimages:\n- {name: reg/a, newTag: v1}\n");
    kit.commit("seed");
    let r = renderer();
    let key = |kit: &GitOps| {
        let s = open(kit, &kit.clone);
        r.key(
            &s.repo,
            s.base,
            &Default::default(),
            &promote::render::RenderTarget::Kustomize("envs/prod".into()),
        )
        .unwrap()
    };
    let k0 = key(&kit);
    kit.put(
        "envs/staging/kustomization.yaml",
        "resources: [../../base]\nimages:\n- {name: reg/a, newTag: v2}\n",
    )
    .put("docs/notes.md", "other teams' work\n");
    kit.commit("elsewhere");
    assert_eq!(key(&kit), k0, "changes outside prod's inputs keep the key");
    kit.put("comp/patch.yaml", "x: 1\n");
    kit.commit("a file below a loaded component");
    let k1 = key(&kit);
    assert_ne!(k1, k0, "a component's directory is an input");
    kit.put(
        "base/deploy.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
    );
    kit.commit("base");
    let k2 = key(&kit);
    assert_ne!(k2, k1, "the base is an input");
    // A reference this cannot follow: fall back to the whole tree, which any commit changes.
    kit.put("envs/prod/kustomization.yaml", "resources: [../../base, https://example.com/x.yaml]\nimages:\n- {name: reg/a, newTag: v1}\n");
    kit.commit("remote resource");
    let k3 = key(&kit);
    kit.put("docs/notes.md", "more\n");
    kit.commit("elsewhere again");
    assert_ne!(key(&kit), k3, "not narrowed: the root tree is the key");
}

/// A render's scratch tree holds just the directories the render reads.
#[test]
fn materialize_writes_only_the_directories_asked_for() {
    let kit = examples();
    let s = open(&kit, &kit.clone);
    let out = tempfile::tempdir().unwrap();
    let only = vec!["kustomize/base".to_owned(), "kustomize/prod".to_owned()];
    let none = std::collections::BTreeMap::new();
    s.repo
        .materialize(s.base, out.path(), Some(&only), &none)
        .unwrap();
    assert!(
        out.path()
            .join("kustomize/prod/kustomization.yaml")
            .is_file()
    );
    assert!(
        out.path()
            .join("kustomize/base/kustomization.yaml")
            .is_file()
    );
    assert!(!out.path().join("kustomize/staging").exists());
    assert!(!out.path().join("promote.yaml").exists());
    let all = tempfile::tempdir().unwrap();
    s.repo.materialize(s.base, all.path(), None, &none).unwrap();
    assert!(all.path().join("promote.yaml").is_file());
    assert!(all.path().join("kustomize/staging").is_dir());
}
