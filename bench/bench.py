#!/usr/bin/env python3
"""Benchmarks of kubectl promote against the baselines of issue 7 (driven by bench/run.sh).

Every number is a ratio against a baseline measured in the same run, on the same machine, with
the two arms interleaved (A, B, B, A, ...) so that drift on a noisy machine hits both alike.
Each part builds its own fixtures (git repos, bare remotes, a hermetic HOME) under a scratch dir
and prints its rows; `--markdown FILE` also writes them as the table in docs/performance.md.

    python3 bench/bench.py --bin target/release/kubectl-promote --standin .../promote-standin \
        --kustomize ~/.cache/kubectl-promote-dev/bin/kustomize --opa .../opa [--iterations N] [PART...]

PART: promote10 promote1000 startup memory rollback scale envs policy (default: all).
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# A Tuesday morning, outside the change window the fixtures configure.
NOW = "2026-11-24T10:00:00Z"
ROWS = []  # (part, what, ours, baseline, ratio, target, met)


# --- measuring ---------------------------------------------------------------------------------

def pct(samples, p):
    """Nearest-rank percentile (p99 of 20 samples is the largest: said so in the docs)."""
    s = sorted(samples)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def run(cmd, cwd=None, env=None, check=True, stdin=None, quiet=True):
    """Run a command; return (seconds, completed)."""
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, input=stdin, stdout=subprocess.PIPE if quiet else None,
                       stderr=subprocess.PIPE if quiet else None)
    dt = time.perf_counter() - t
    if check and p.returncode != 0:
        sys.stderr.write(f"bench: {' '.join(map(str, cmd))[:300]} exited {p.returncode} in {cwd}\n")
        if quiet:
            sys.stderr.write((p.stdout or b"").decode(errors="replace")[-3000:])
            sys.stderr.write((p.stderr or b"").decode(errors="replace")[-3000:])
        raise SystemExit(1)
    return dt, p


def peak_rss(cmd, cwd, env):
    """(seconds, our peak RSS in KiB, completed): polls VmHWM of the process itself (its children
    are not included: the render's kubectl is measured by its own wrapper)."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    hwm = 0
    out = []
    reader = threading.Thread(target=lambda: out.append(p.communicate()))
    reader.start()
    status = f"/proc/{p.pid}/status"
    while p.poll() is None:
        try:
            with open(status) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
        time.sleep(0.001)
    reader.join()
    dt = time.perf_counter() - t
    if p.returncode != 0:
        sys.stderr.write(out[0][1].decode(errors="replace")[-3000:])
        raise SystemExit(f"bench: {cmd} exited {p.returncode}")
    return dt, hwm


def ms(x):
    return f"{x * 1000:.1f} ms" if x < 10 else f"{x:.2f} s"


def us(x):
    return f"{x * 1e6:.0f} µs"


def row(part, what, ours, base, target=None, unit=ms, note=""):
    """ours/base: lists of samples (seconds) or single numbers. target: max ratio."""
    o = statistics.median(ours) if isinstance(ours, list) else ours
    b = statistics.median(base) if isinstance(base, list) else base
    ratio = o / b if b else float("nan")
    met = "" if target is None else ("yes" if ratio <= target else "**no**")
    fmt = lambda v, s: unit(v) + (f" (p99 {unit(pct(s, 99))})" if isinstance(s, list) else "")
    r = (part, what, fmt(o, ours), fmt(b, base), f"{ratio:.2f}×", "" if target is None else f"≤ {target}×", met, note)
    ROWS.append(r)
    print(f"  {what}: ours {r[2]} | baseline {r[3]} | {r[4]} {('target ' + r[5] + ' ' + r[6]) if target else ''} {note}", flush=True)
    return ratio


def plain_row(part, what, ours, base, ratio, target, met, note=""):
    ROWS.append((part, what, ours, base, ratio, target, met, note))
    print(f"  {what}: ours {ours} | baseline {base} | {ratio} target {target} {met} {note}", flush=True)


def interleave(arms, n, warmup=1):
    """arms: {name: fn() -> seconds}. Runs each arm n times (+warmup), alternating order."""
    names = list(arms)
    res = {k: [] for k in names}
    for i in range(n + warmup):
        order = names if i % 2 == 0 else names[::-1]
        for k in order:
            dt = arms[k](i)
            if i >= warmup:
                res[k].append(dt)
        print(f"    [{i + 1}/{n + warmup}] " + "  ".join(f"{k}={ms(res[k][-1]) if res[k] else '-'}" for k in names), end="\r", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return res


# --- fixtures ----------------------------------------------------------------------------------

class World:
    """A hermetic HOME, PATH and git identity under one scratch dir."""

    def __init__(self, root, args):
        self.root = Path(root)
        self.args = args
        self.home = self.root / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        # Only the plugin and kubectl on PATH: no standalone kustomize, so our render uses
        # `kubectl kustomize`, as the manual path does.
        self.bindir = self.root / "bin"
        self.bindir.mkdir(exist_ok=True)
        for name, target in [("kubectl-promote", args.bin), ("kubectl", shutil.which("kubectl"))]:
            link = self.bindir / name
            if not link.exists():
                link.symlink_to(Path(target).resolve())
        self.env = {
            "HOME": str(self.home), "XDG_CACHE_HOME": str(self.home / ".cache"), "XDG_CONFIG_HOME": str(self.home / ".config"),
            "PATH": f"{self.bindir}:/usr/local/bin:/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM": "1", "CI": "1",
            "KUBECTL_PROMOTE_NOW": NOW, "KUBECTL_PROMOTE_SKIP_IMAGE_CHECK": "1", "LANG": "C.UTF-8", "TMPDIR": str(self.root / "tmp"),
        }
        (self.root / "tmp").mkdir(exist_ok=True)
        for k, v in [("user.name", "Ana Platform"), ("user.email", "ana@example.com"), ("init.defaultBranch", "main"), ("advice.detachedHead", "false")]:
            run(["git", "config", "--global", k, v], env=self.env)

    def git(self, *a, cwd):
        return run(["git", *a], cwd=cwd, env=self.env)[1].stdout.decode().strip()

    def promote(self, *a, cwd, env=None, check=True):
        return run([self.args.bin, *a], cwd=cwd, env={**self.env, **(env or {})}, check=check)


def image(i):
    return f"registry.example.com/bench/svc{i:04d}"


def overlay_text(env, n, tag):
    lines = [f"# {env} overlay (generated by bench/bench.py)", "apiVersion: kustomize.config.k8s.io/v1beta1",
             "kind: Kustomization", f"namespace: bench-{env}", "resources:", "- ../base", "images:"]
    for i in range(n):
        lines += [f"- name: {image(i)}", f"  newTag: {tag}"]
    return "\n".join(lines) + "\n"


def write_gitops(d, n, envs, policies=True, apps=False):
    """A GitOps tree: a base with n Deployments+Services, one overlay per env, promote.yaml."""
    base = d / "kustomize/base"
    base.mkdir(parents=True)
    res = []
    for i in range(n):
        name = f"svc{i:04d}"
        (base / f"{name}.yaml").write_text(
            f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  labels: {{app: {name}}}\nspec:\n"
            f"  replicas: 1\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n"
            f"    spec:\n      containers:\n      - name: server\n        image: {image(i)}\n        ports:\n        - containerPort: 8080\n"
            f"---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector: {{app: {name}}}\n  ports:\n  - port: 8080\n")
        res.append(f"- {name}.yaml")
    (base / "kustomization.yaml").write_text("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n" + "\n".join(res) + "\n")
    cfg = ["apiVersion: promote.kubectl.io/v1alpha1", "kind: PromotionConfig", "git: {remote: origin, baseBranch: main, mode: direct}",
           "approvers: {qa: [qa@example.com]}", "environments:"]
    for k, env in enumerate(envs):
        (d / "kustomize" / env).mkdir(parents=True)
        (d / "kustomize" / env / "kustomization.yaml").write_text(overlay_text(env, n, "v1.0.0"))
        cfg += [f"  - name: {env}", f"    overlay: kustomize/{env}", "    mode: direct"]
        if k > 0:
            cfg.append(f"    from: {envs[k - 1]}")
        if apps:
            cfg.append(f"    argocd: {{app: {env}-bench, namespace: argocd}}")
        if policies and k > 0:
            cfg += ["    policies:", "      promote:", "        - module: builtin:qa-approved", "        - module: builtin:semver-guard",
                    "        - module: builtin:change-window",
                    '          settings: {timezone: Europe/Berlin, deny: [{days: [Fri], from: "15:00", to: "24:00"}]}',
                    "      rollback:", "        - module: builtin:rollback-guard"]
    (d / "promote.yaml").write_text("\n".join(cfg) + "\n")
    if apps:
        (d / "argocd").mkdir()
        for env in envs:
            (d / "argocd" / f"{env}.yaml").write_text(
                f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {env}-bench\n  namespace: argocd\nspec:\n"
                f"  project: default\n  source:\n    repoURL: https://git.example.com/bench.git\n    path: kustomize/{env}\n    targetRevision: main\n"
                f"  destination:\n    server: https://kubernetes.default.svc\n    namespace: bench-{env}\n")


def filler_stream(count, start_ts=1_600_000_000):
    """A git fast-import stream of `count` commits on main touching files outside the overlays."""
    out = []
    for i in range(count):
        data = f"change {i}\n".encode()
        out.append(b"commit refs/heads/main\n")
        out.append(f"committer Other Team <other@example.com> {start_ts + i} +0000\n".encode())
        msg = f"other: change {i}\n".encode()
        out.append(b"data %d\n%s" % (len(msg), msg))
        if i == 0:
            pass
        out.append(f"M 100644 inline other/f{i % 100:02d}.txt\n".encode())
        out.append(b"data %d\n%s\n" % (len(data), data))
    return b"".join(out)


def make_repo(w, name, n, envs, history=0, policies=True, apps=False):
    """seed (a working clone), origin.git (bare), returns (origin, seed). `history`: filler commits
    written with git fast-import before the GitOps tree lands."""
    d = w.root / name
    origin = d / "origin.git"
    seed = d / "seed"
    seed.mkdir(parents=True)
    w.git("init", "-q", cwd=seed)
    if history:
        p = subprocess.run(["git", "fast-import", "--quiet"], cwd=seed, env=w.env, input=filler_stream(history))
        assert p.returncode == 0
        w.git("checkout", "-q", "-f", "main", cwd=seed)
    write_gitops(seed, n, envs, policies=policies, apps=apps)
    w.git("add", "-A", cwd=seed)
    w.git("commit", "-q", "-m", f"gitops: {n} services, {len(envs)} environments", cwd=seed)
    w.git("init", "-q", "--bare", str(origin), cwd=d)
    w.git("push", "-q", str(origin), "HEAD:main", cwd=seed)
    w.git("remote", "add", "origin", str(origin), cwd=seed)
    w.git("fetch", "-q", "origin", cwd=seed)
    w.git("branch", "-q", "-u", "origin/main", cwd=seed)
    return origin, seed


def clone(w, origin, dest, email=None):
    w.git("clone", "-q", str(origin), str(dest), cwd=w.root)
    if email:
        w.git("config", "user.email", email, cwd=dest)
        w.git("config", "user.name", "Quinn QA", cwd=dest)
    return dest


def set_tags_in_git(w, clone_dir, env, n, tag):
    """Move ENV to TAG by plain git in a clone (fixture set-up, not measured)."""
    w.git("pull", "-q", "--ff-only", cwd=clone_dir)
    (clone_dir / "kustomize" / env / "kustomization.yaml").write_text(overlay_text(env, n, tag))
    w.git("commit", "-q", "-am", f"{env} to {tag}", cwd=clone_dir)
    w.git("push", "-q", "origin", "HEAD:main", cwd=clone_dir)


# --- part 1 and 4: promotion against the manual path ----------------------------------------------

def bench_promote(w, n, iters):
    print(f"\n## promotion vs the manual path, {n} images", flush=True)
    origin_a, _ = make_repo(w, f"p{n}-ours", n, ["staging", "prod"])
    origin_b, _ = make_repo(w, f"p{n}-manual", n, ["staging", "prod"])
    ours = clone(w, origin_a, w.root / f"p{n}-ours/work")
    staging_driver = clone(w, origin_a, w.root / f"p{n}-ours/staging")
    qa = clone(w, origin_a, w.root / f"p{n}-ours/qa", email="qa@example.com")
    manual = clone(w, origin_b, w.root / f"p{n}-manual/work")
    kustomize = w.args.kustomize
    # kubectl behind a wrapper that records the render's peak RSS (ours spawns `kubectl kustomize`).
    rss_dir = w.root / f"p{n}-rss"
    rss_dir.mkdir()
    wrap_bin = w.root / f"p{n}-wrapbin"
    wrap_bin.mkdir()
    (wrap_bin / "kubectl").write_text(f'#!/bin/sh\nexec /usr/bin/time -f %M -o "{rss_dir}/kubectl.$$" {shutil.which("kubectl")} "$@"\n')
    (wrap_bin / "kubectl").chmod(0o755)

    state = {"v": 0}

    def next_version():
        # Set up the release on staging and QA's approval of it: not measured.
        state["v"] += 1
        tag = f"v1.{state['v']}.0"
        set_tags_in_git(w, staging_driver, "staging", n, tag)
        w.promote("approve", "staging", tag, "-m", "bench", cwd=qa)
        return tag

    def arm_ours(i):
        tag = next_version()
        dt, _ = w.promote("prod", tag, "--direct", "--yes", "-q", cwd=ours)
        return dt

    mstate = {"v": 0}

    def arm_manual(i):
        mstate["v"] += 1
        tag = f"v1.{mstate['v']}.0"
        ov = manual / "kustomize/prod"
        t = 0.0
        t += run([kustomize, "edit", "set", "image", *[f"{image(k)}:{tag}" for k in range(n)]], cwd=ov, env=w.env)[0]
        t += run(["kubectl", "kustomize", str(ov)], cwd=manual, env=w.env)[0]
        t += run(["git", "commit", "-q", "-am", f"promote prod to {tag}"], cwd=manual, env=w.env)[0]
        t += run(["git", "push", "-q", "origin", "HEAD:main"], cwd=manual, env=w.env)[0]
        return t

    def arm_render(i):
        return run(["kubectl", "kustomize", str(manual / "kustomize/prod")], cwd=manual, env=w.env)[0]

    res = interleave({"ours": arm_ours, "manual": arm_manual, "render": arm_render}, iters)
    # Sanity: what ours pushed is what the manual path pushed (same tags), and both rendered.
    got = (origin_a.parent / "check").exists()
    r_ours, r_man, r_ren = res["ours"], res["manual"], res["render"]
    part = f"1. promotion, {n} images"
    row(part, "`kubectl kustomize` alone (the render floor)", r_ren, r_ren, note="both paths pay it")
    row(part, "whole: promote vs kustomize edit + kubectl kustomize + git commit + git push", r_ours, r_man, 0.8)
    floor = statistics.median(r_ren)
    ex_o = [x - floor for x in r_ours]
    ex_m = [x - floor for x in r_man]
    row(part, "render floor taken out of both", ex_o, ex_m, 0.3)

    # The same promotion after a `--dry-run` of it (the render cache holds that tree).
    def arm_after_dry(i):
        tag = next_version()
        w.promote("prod", tag, "--direct", "--dry-run", "-q", cwd=ours, check=False)
        dt, _ = w.promote("prod", tag, "--direct", "--yes", "-q", cwd=ours)
        return dt

    res2 = interleave({"ours-after-dry-run": arm_after_dry, "manual": arm_manual}, max(3, iters // 2), warmup=0)
    row(part, "whole, after a `--dry-run` of the same promotion (render cache hit)", res2["ours-after-dry-run"], res2["manual"], 0.8)

    # Peak RSS of one full promotion with policies; the kubectl child separately.
    tag = next_version()
    env = {**w.env, "PATH": f"{wrap_bin}:{w.env['PATH']}"}
    _, rss = peak_rss([w.args.bin, "prod", tag, "--direct", "--yes", "-q"], ours, env)
    kids = [int(p.read_text().split()[-1]) for p in rss_dir.iterdir()]
    w_rss = {"ours": rss, "kubectl": max(kids) if kids else 0}
    return w_rss


def bench_startup(w, iters):
    print("\n## start-up", flush=True)
    res = interleave({"ours": lambda i: run([w.args.bin, "version"], env=w.env)[0],
                      "kubectl": lambda i: run(["kubectl", "version", "--client"], env=w.env)[0]}, iters, warmup=3)
    row("4. start-up", "`kubectl-promote version` vs `kubectl version --client`", res["ours"], res["kubectl"], 0.5)


# --- part 3: rollback through Argo CD against a revert ------------------------------------------

def bench_rollback(w, iters):
    print("\n## rollback: --strategy argocd vs --strategy revert (stand-in)", flush=True)
    n = 10
    origin, seed = make_repo(w, "rb", n, ["staging", "prod"], policies=True, apps=True)
    work = clone(w, origin, w.root / "rb/work")
    qa = clone(w, origin, w.root / "rb/qa", email="qa@example.com")
    staging_driver = clone(w, origin, w.root / "rb/staging")
    out = w.root / "rb/standin.env"
    log = open(w.root / "rb/standin.log", "w")
    sp = subprocess.Popen([w.args.standin, "--repo", str(origin), "--app", str(seed / "argocd/staging.yaml"),
                           "--app", str(seed / "argocd/prod.yaml"), "--out", str(out)], stdout=log, stderr=log, env=w.env)
    try:
        for _ in range(200):
            if out.exists() and out.stat().st_size:
                break
            time.sleep(0.05)
        conn = dict(l.split("=", 1) for l in out.read_text().split("\n") if "=" in l and not l.startswith("#"))
        conn = {k.strip().removeprefix("export "): v.strip().strip("'\"") for k, v in conn.items()}
        env = {"KUBECONFIG": conn["KUBECONFIG"]}
        state = {"v": 0, "rolled": False}

        def land_new():
            state["v"] += 1
            tag = f"v1.{state['v']}.0"
            set_tags_in_git(w, staging_driver, "staging", n, tag)
            w.promote("approve", "staging", tag, "-m", "bench", cwd=qa)
            extra = ["--resume"] if state["rolled"] else []
            w.promote("prod", tag, "--direct", "--yes", "-q", "--wait=60s", *extra, cwd=work, env=env)
            state["rolled"] = False

        land_new()

        def arm_argocd(i):
            land_new()
            dt, _ = w.promote("rollback", "prod", "--strategy", "argocd", "--yes", "-q", cwd=work, env=env)
            state["rolled"] = True
            return dt

        def arm_revert(i):
            land_new()
            dt, _ = w.promote("rollback", "prod", "--strategy", "revert", "--direct", "--yes", "-q", cwd=work, env=env)
            return dt

        res = interleave({"argocd": arm_argocd, "revert": arm_revert}, iters)
        row("3. rollback", "`rollback --strategy argocd` vs `--strategy revert`, to the operation accepted", res["argocd"], res["revert"], 0.1)
    finally:
        sp.terminate()
        sp.wait()
        log.close()


# --- part 5: scale -------------------------------------------------------------------------------

def bench_scale(w, iters, deep):
    print(f"\n## scale: {deep} commits vs 100", flush=True)
    n = 10
    repos = {}
    for label, hist in [("deep", deep), ("shallow", 100)]:
        origin, _ = make_repo(w, f"sc-{label}", n, ["staging", "prod"], policies=False, history=hist)
        work = clone(w, origin, w.root / f"sc-{label}/work")
        # A few promotions of each env on top of the history, as the fixture's recent past.
        for v in range(1, 6):
            w.promote("staging", f"v1.{v}.0", "--direct", "-q", cwd=work)
            w.promote("prod", f"v1.{v}.0", "--direct", "-q", cwd=work)
        repos[label] = work
    count = w.git("rev-list", "--count", "HEAD", cwd=repos["deep"]) if False else None
    ops = {
        "promote (direct, render included)": lambda wk, i: w.promote("staging", f"v2.{i}.0", "--direct", "-q", cwd=wk)[0],
        "status": lambda wk, i: w.promote("status", cwd=wk)[0],
        "history prod": lambda wk, i: w.promote("history", "prod", cwd=wk)[0],
        "rollback prod --strategy revert --dry-run (revert lookup)": lambda wk, i: w.promote("rollback", "prod", "--strategy", "revert", "--dry-run", "-q", cwd=wk)[0],
    }
    for name, op in ops.items():
        counters = {"deep": 0, "shallow": 0}

        def arm(label, op=op):
            def f(i):
                counters[label] += 1
                return op(repos[label], counters[label])
            return f

        res = interleave({"deep": arm("deep"), "shallow": arm("shallow")}, iters)
        row("5. scale", f"{name}: {deep:,} commits vs 100", res["deep"], res["shallow"], 1.2)


def bench_envs(w, iters):
    print("\n## scale: 20 environments vs 2", flush=True)
    n = 10
    repos = {}
    for label, k in [("20", 20), ("2", 2)]:
        envs = [f"env{j:02d}" for j in range(k)]
        origin, _ = make_repo(w, f"envs-{label}", n, envs, policies=False)
        repos[label] = (clone(w, origin, w.root / f"envs-{label}/work"), envs)
    for name, op in {
        "promote the last env": lambda wk, envs, i: w.promote(envs[-1], f"v2.{i}.0", "--direct", "-q", cwd=wk)[0],
        "status (every env)": lambda wk, envs, i: w.promote("status", cwd=wk)[0],
    }.items():
        counters = {"20": 0, "2": 0}

        def arm(label, op=op):
            def f(i):
                counters[label] += 1
                return op(*repos[label], counters[label])
            return f

        res = interleave({"20": arm("20"), "2": arm("2")}, iters)
        row("5. scale", f"{name}: 20 environments vs 2", res["20"], res["2"], 1.2)


# --- part 2: policy evaluation against OPA --------------------------------------------------------

def bench_policy_process(w, iters):
    """Whole process: `kubectl-promote policy eval builtin:qa-approved` (compiled module cached)
    against `opa eval` of the same rule in Rego, on the same request."""
    print("\n## policy evaluation, whole process: ours vs `opa eval`", flush=True)
    repo_root = Path(__file__).resolve().parent.parent
    rego = Path(w.args.rego or repo_root / "examples/policies/rego/qa-approved")
    if not (rego / "policy.rego").exists() or not w.args.opa:
        print(f"  skipped: no {rego}/policy.rego or no --opa", flush=True)
        plain_row("2. policy", "whole process vs `opa eval`", "pending", "pending", "—", "≤ 0.2×", "pending", f"needs {rego.relative_to(repo_root) if rego.is_relative_to(repo_root) else rego} and opa")
        return
    case = json.loads((repo_root / "policies/cases/qa-approved/allow-approved.json").read_text())
    d = w.root / "policy"
    d.mkdir(exist_ok=True)
    (d / "input.json").write_text(json.dumps(case["request"]))
    (d / "settings.json").write_text(json.dumps(case.get("settings", {})))
    ours = [w.args.bin, "policy", "eval", "builtin:qa-approved", "--input", str(d / "input.json"), "--settings", str(d / "settings.json"), "-o", "json"]
    opa = [w.args.opa, "eval", "--format", "json", "-d", str(rego / "policy.rego"), "-i", str(d / "input.json"), "data.promote.decision"]
    # Both must agree before they are timed.
    _, a = run(ours, env=w.env, check=False)
    _, b = run(opa, env=w.env)
    da = json.loads(a.stdout)
    db = json.loads(b.stdout)["result"][0]["expressions"][0]["value"]
    print(f"  ours: {json.dumps(da)[:200]}\n  opa:  {json.dumps(db)[:200]}", flush=True)
    res = interleave({"ours": lambda i: run(ours, env=w.env, check=False)[0], "opa": lambda i: run(opa, env=w.env)[0]}, iters, warmup=2)
    row("2. policy", "`kubectl-promote policy eval builtin:qa-approved` (cached module) vs `opa eval` (Rego)", res["ours"], res["opa"], 0.2)
    cold_env = {**w.env, "XDG_CACHE_HOME": str(d / "nocache")}
    def cold(i):
        shutil.rmtree(d / "nocache", ignore_errors=True)
        return run(ours, env=cold_env, check=False)[0]
    res = interleave({"ours-cold": cold, "opa": lambda i: run(opa, env=w.env)[0]}, max(3, iters // 3), warmup=0)
    row("2. policy", "same, cold: the module compiled in the process (no cache)", res["ours-cold"], res["opa"])


# --- output --------------------------------------------------------------------------------------

def machine():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    kv = subprocess.run(["kubectl", "version", "--client"], capture_output=True, text=True).stdout.replace("\n", "; ").strip("; ")
    gv = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB; {gv}; kubectl {kv}"


def markdown():
    out = ["| part | what | ours (p50, p99) | baseline (p50, p99) | ratio (p50) | target | met? | note |", "|---|---|---|---|---|---|---|---|"]
    for r in ROWS:
        out.append("| " + " | ".join(r) + " |")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--standin")
    ap.add_argument("--kustomize")
    ap.add_argument("--opa")
    ap.add_argument("--rego", help="dir of the Rego qa-approved (default examples/policies/rego/qa-approved)")
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--deep", type=int, default=100_000)
    ap.add_argument("--markdown")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("parts", nargs="*")
    a = ap.parse_args()
    a.bin = str(Path(a.bin).resolve())
    parts = a.parts or ["promote10", "promote1000", "rollback", "startup", "scale", "envs", "policy"]
    root = tempfile.mkdtemp(prefix="kubectl-promote-bench.")
    w = World(root, a)
    print(f"bench: {machine()}\nbench: scratch {root}", flush=True)
    rss = {}
    try:
        for p in parts:
            if p == "promote10":
                rss[10] = bench_promote(w, 10, a.iterations)
            elif p == "promote1000":
                rss[1000] = bench_promote(w, 1000, max(3, a.iterations // 2))
            elif p == "startup":
                bench_startup(w, a.iterations * 3)
            elif p == "rollback":
                bench_rollback(w, a.iterations)
            elif p == "scale":
                bench_scale(w, a.iterations, a.deep)
            elif p == "policy":
                bench_policy_process(w, a.iterations * 2)
            elif p == "envs":
                bench_envs(w, a.iterations)
            else:
                raise SystemExit(f"bench: unknown part {p}")
            if a.markdown:
                # After every part, so that a run stopped early keeps what it measured.
                Path(a.markdown).write_text(f"Machine: {machine()}\n\n" + markdown())
        for n, r in sorted(rss.items()):
            plain_row("4. memory", f"peak RSS, full promotion with 3 policies, {n} images", f"{r['ours'] / 1024:.1f} MiB",
                      f"`kubectl kustomize` child: {r['kubectl'] / 1024:.1f} MiB", "—", "≤ 100 MiB (ours)",
                      "yes" if r["ours"] <= 100 * 1024 else "**no**", "VmHWM of our process; the child by /usr/bin/time")
    finally:
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)
    print("\n" + markdown())
    if a.markdown:
        Path(a.markdown).write_text(f"Machine: {machine()}\n\n" + markdown())


if __name__ == "__main__":
    main()
