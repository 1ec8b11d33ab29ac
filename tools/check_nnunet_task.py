#!/usr/bin/env python3
"""Runs nnU-Net v1's own dataset check on a raw task folder, as `nnUNet_plan_and_preprocess
--verify_dataset_integrity` does before planning: the evidence that `axonseg make-dataset
--format nnunet` writes a task nnU-Net accepts. Needs nnunet 1.7.1 and SimpleITK in tools/.venv
(`tools/.venv/bin/pip install SimpleITK`). Usage:
    tools/.venv/bin/python tools/check_nnunet_task.py OUT/Task007_Axons
"""
import sys

from nnunet.preprocessing.sanity_checks import verify_dataset_integrity

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    verify_dataset_integrity(sys.argv[1])  # raises (or asserts) on any problem
    print(f"nnU-Net 1.7.1 accepts {sys.argv[1]}")
