"""Robustness of the reference model and of the drift check on real data (a benchmark, not a test).

Builds a drift reference profile from a random subset of the train split, perturbs a fixed random subset of the
valid split with every kind of `tumor_detect.robustness.KINDS` at the given severities, and prints one row per
(kind, severity): mAP50 on the perturbed slices, whether the drift check fires, how many features drifted. Then
draws random clean batches of the whole valid split to measure the false-alarm rate, and prints the summary
(goal check, false-alarm rate with its 95% CI, feature-extraction throughput, timings). Writes robustness.csv,
false_alarms.csv, robustness.json and robustness.png to --out.

    .venv/bin/python benchmarks/robustness.py --data data/brain-tumor/data.yaml --n_reference 300 --n_valid 150 \
        --severities 1,3,5 --out runs/robustness --verbose
"""
from fastcore.script import anno_parser
from tumor_detect.robustness import robustness_cli

if __name__ == '__main__':
    args = anno_parser(robustness_cli).parse_args()
    robustness_cli(**{k: v for k, v in vars(args).items() if k not in ('pdb', 'xtra')})
