"""``python -m effv2nb int8-report``: stock, NNCF and the suite's int8 recipes on one test fold (notebook 05)."""
from __future__ import annotations

import os


def add_arguments(p):
    p.add_argument("--model", default="tiny", help="tiny (offline) or efficientnetv2_rw_t|_s|_m")
    p.add_argument("--val-dir", default=None, help="images DIR/<class>/<image>, split into selection and test "
                                                    "(and calibration when --calib-dir is not given)")
    p.add_argument("--calib-dir", default=None, help="calibration images (default: the digits' calib/ for tiny, "
                                                      "else a fold of --val-dir)")
    p.add_argument("--num-calib", type=int, default=None, help="calibration images for every recipe")
    p.add_argument("--weights", default="auto")
    p.add_argument("--work", default=None, help="keep the int8 models in this folder")
    p.add_argument("--no-nncf-ac", action="store_true", help="skip NNCF's accuracy-control variant")
    p.add_argument("--quick", action="store_true", help="CI-sized: fewer images and candidates, same code path")
    p.add_argument("--cluster", default=None,
                   help="score the test fold on Dask: local:N (a LocalCluster of N workers) or tcp://HOST:PORT "
                        "(a running scheduler); default $EFFV2NB_CLUSTER, else here")


def _cluster_lines(line: str) -> None:
    """The study's log is quiet on the command line, but for the cluster it ran on."""
    if line.startswith("Dask cluster"):
        print(line)


def run(args) -> int:
    from effv2nb.cluster import connect
    from effv2nb.quant.int8_report import run as report_run

    if args.quick:
        os.environ["EFFV2NB_QUICK"] = "1"
    spec = connect.spec_from(args.cluster)
    cluster = connect.open_cluster(spec) if spec else None     # an unreachable scheduler fails before the work
    try:
        report = report_run(args.model, args.val_dir, args.calib_dir, quick=args.quick, workdir=args.work,
                            weights=args.weights, num_calib=args.num_calib,
                            with_nncf_ac=False if args.no_nncf_ac else None, log=_cluster_lines, progress=False,
                            cluster=cluster)
    finally:
        if cluster is not None:
            cluster.close()
    for line in report.lines():
        print(line)
    best = report.choices["best"]
    print(f"best: float groups {', '.join(best['kept_float']) or 'none'} ({best['nodes_to_exclude']} nodes), "
          f"search {best['search_s']:.1f} s; best_int8: {report.choices['best_int8']['recipe'].name}")
    return 0
