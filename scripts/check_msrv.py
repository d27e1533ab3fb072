"""Reads `cargo metadata` on stdin; fails when a dependency needs a newer Rust than our MSRV."""
import json
import re
import subprocess
import sys


def version(text):
    parts = [int(x) for x in re.findall(r"\d+", text)[:3]]
    return tuple(parts + [0] * (3 - len(parts)))


meta = json.load(sys.stdin)
ours = {p["rust_version"] for p in meta["packages"] if p["id"] in meta["workspace_members"]}
if len(ours) != 1 or None in ours:
    sys.exit(f"every workspace crate must state the same rust-version, found {ours}")
msrv = ours.pop()
rustc_out = subprocess.run(["rustc", "--version"], capture_output=True, text=True, check=True).stdout
rustc = re.search(r"\d+\.\d+\.\d+", rustc_out).group()
if version(rustc) < version(msrv):
    sys.exit(f"rustc {rustc} is older than the stated MSRV {msrv}")
too_new = sorted(
    "{} {} needs {}".format(p["name"], p["version"], p["rust_version"])
    for p in meta["packages"]
    if p.get("rust_version") and version(p["rust_version"]) > version(msrv)
)
if too_new:
    sys.exit(
        f"dependencies need a newer Rust than the MSRV {msrv}: raise rust-version in Cargo.toml "
        "or pin older versions:\n  " + "\n  ".join(too_new)
    )
print(f"MSRV {msrv}: rustc {rustc} and all {len(meta['packages'])} packages agree")
