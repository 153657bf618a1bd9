"""The scale flagfiles parse and fit their hardware; the launch scripts check their environment up front
(one-line errors) and start the processes they promise (srun / gcloud replaced by recording stubs)."""

import os
import pathlib
import subprocess
import tempfile

import pytest
from absl import flags

from experiments import common
from jaxcnn.train import plan

ROOT = pathlib.Path(__file__).resolve().parents[2]

# flagfile -> (devices it is written for, experiment defaults)
SCALE_FLAGFILES = {
    "cifar10_resnet18_gpu8.flags": 8,
    "cifar10_resnet18_accum.flags": 1,
    "cifar100_wrn28_10_multinode.flags": 16,
    "cifar10_resnet18_tpu_pod.flags": 16,
}


def _parse(flagfile):
    fv = flags.FlagValues()
    common.define_flags(fv, dataset="cifar10", datasets=["cifar10", "cifar100"], model="resnet18_cifar")
    cwd = os.getcwd()
    os.chdir(ROOT)  # nested --flagfile paths are relative to the repository root, where the scripts run
    try:
        fv(["cifar", f"--flagfile=launch/flags/{flagfile}", "--workdir=/tmp/x"])
    finally:
        os.chdir(cwd)
    config = common.config_from_flags(fv)
    plan.resolve(config)  # every setting valid
    return config


@pytest.mark.parametrize("flagfile, devices", SCALE_FLAGFILES.items())
def test_scale_flagfiles_parse_validate_and_divide_over_their_devices(flagfile, devices):
    config = _parse(flagfile)
    assert config.batch_size % (devices * config.grad_accum_steps) == 0
    assert config.dtype == "bfloat16"
    text = (ROOT / "launch/flags" / flagfile).read_text()
    assert text.startswith("# ") and "Command:" in text and "Expected:" in text and "Hardware:" in text


def test_accumulation_flagfile_keeps_the_8_gpu_global_batch_on_one_device():
    gpu8, accum = _parse("cifar10_resnet18_gpu8.flags"), _parse("cifar10_resnet18_accum.flags")
    assert (accum.batch_size, accum.learning_rate, accum.grad_accum_steps) == (gpu8.batch_size, gpu8.learning_rate, 8)
    assert accum.batch_size // accum.grad_accum_steps == 128


def _script(name, *args, env=None, stubs=()):
    """Run launch/<name> with a PATH holding recording stubs for `stubs` (srun, gcloud, nvidia-smi)."""
    stub_dir = pathlib.Path(tempfile.mkdtemp(prefix="launch_stubs_"))
    for stub in stubs:
        command, _, exit_code = stub.partition(":")  # "nvidia-smi:1": a stub that fails
        path = stub_dir / command
        path.write_text(f'#!/bin/sh\necho "{command} $*"\nexit {exit_code or 0}\n')
        path.chmod(0o755)
    base = {"PATH": f"{stub_dir}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run(["bash", str(ROOT / "launch" / name), *args], env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name, args, env, message", [
    ("slurm.sh", ["experiments.cifar", "--workdir=w"], {}, "slurm.sh: srun not found: run this on a SLURM cluster"),
    ("local.sh", ["experiments.cifar"], {}, "local.sh: --workdir=<dir> is required"),
    ("local.sh", ["cifar", "--workdir=w"], {}, "local.sh: first argument must be an experiment module such as experiments.cifar"),
    ("local.sh", ["experiments.imagenet", "--workdir=w"], {}, "local.sh: no experiment module experiments.imagenet"),
    ("local.sh", ["experiments.mnist", "--workdir=w"], {"JAXCNN_CPU_DEVICES": "many"},
     "local.sh: JAXCNN_CPU_DEVICES must be a positive integer, got 'many'"),
    ("gpu_node.sh", ["experiments.cifar", "--workdir=w"], {}, "gpu_node.sh: nvidia-smi lists no GPU"),
    ("tpu_vm.sh", ["experiments.cifar", "--workdir=w"], {"TPU_ZONE": "z", "JAXCNN_REMOTE_DIR": "d"},
     "tpu_vm.sh: $TPU_NAME is not set: the TPU VM's name"),
])
def test_launch_scripts_refuse_a_wrong_environment_in_one_line(name, args, env, message):
    stubs = {"tpu_vm.sh": ["gcloud"], "gpu_node.sh": ["nvidia-smi:1"]}.get(name, [])
    result = _script(name, *args, env=env, stubs=stubs)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr


def test_slurm_script_needs_an_allocation_then_starts_one_multihost_process_per_node():
    missing = _script("slurm.sh", "experiments.cifar", "--workdir=w", stubs=["srun"])
    assert missing.returncode == 2
    assert missing.stderr.strip().startswith("slurm.sh: $SLURM_JOB_ID is not set: run inside an allocation")
    started = _script("slurm.sh", "experiments.cifar", "--workdir=/shared/w", "--epochs=3", stubs=["srun"],
                      env={"SLURM_JOB_ID": "42", "SLURM_JOB_NUM_NODES": "3"})
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip().splitlines()[-1] == (
        "srun --nodes=3 --ntasks=3 --ntasks-per-node=1 --kill-on-bad-exit=1 .venv/bin/python -m experiments.cifar "
        "--multihost --workdir=/shared/w --epochs=3")


def test_tpu_script_needs_its_variables_then_runs_the_same_command_on_every_worker():
    missing = _script("tpu_vm.sh", "experiments.cifar", "--workdir=w", stubs=["gcloud"], env={"TPU_NAME": "v4"})
    assert missing.returncode == 2 and missing.stderr.startswith("tpu_vm.sh: $TPU_ZONE is not set")
    env = {"TPU_NAME": "v4", "TPU_ZONE": "us-central2-b", "JAXCNN_REMOTE_DIR": "~/jaxcnn"}
    started = _script("tpu_vm.sh", "experiments.cifar", "--workdir=gs://b/run", "--epochs=2", stubs=["gcloud"], env=env)
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == (
        "gcloud compute tpus tpu-vm ssh v4 --zone=us-central2-b --worker=all --command=cd ~/jaxcnn && "
        ".venv/bin/python -m experiments.cifar --multihost --workdir=gs://b/run --epochs=2")
