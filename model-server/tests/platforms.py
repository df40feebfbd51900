"""The platform half of tests/platforms.rs: the same model (mlcube/model.yaml) through the real
MONAI Label client, the MLCube infer command as `mlcube` configures it, and MD.ai's predict,
each compared voxel for voxel with the Arterys answer the Rust side saved in WORK_DIR.
Exits non-zero (an AssertionError with the reason) on any difference."""

import json
import os
import shutil
import subprocess
import sys
import warnings
import zipfile

warnings.simplefilter("ignore", DeprecationWarning)  # the MONAI Label client imports cgi

import nibabel as nib
import numpy as np
import pydicom
from monailabel.client import MONAILabelClient
from monailabel.client.client import MONAILabelClientException

ROOT = os.environ["REPO_ROOT"]
WORK = os.environ["WORK_DIR"]
URL = os.environ["MODEL_SERVER_URL"]
STUDY = os.path.join(ROOT, "testdata/dicom/arterys/test_3d")
CT = os.path.join(ROOT, "testdata/dicom/pydicom/CT_small.dcm")

meta = json.load(open(os.path.join(WORK, "arterys.json")))
shape = meta["binary_data_shape"]
d, h, w = shape["depth"], shape["height"], shape["width"]
arterys = np.fromfile(os.path.join(WORK, "arterys.bin"), dtype=np.uint8).reshape(d, h, w)
# The label every platform must give: the Arterys probability mask at its threshold.
expected = (arterys / 255.0 >= meta["probability_threshold"]).astype(np.uint8)


def slice_order(datasets):
    def position(ds):
        iop = np.array(ds.ImageOrientationPatient, dtype=float)
        return float(np.dot(np.cross(iop[:3], iop[3:]), np.array(ds.ImagePositionPatient, dtype=float)))

    return sorted(datasets, key=position)


def expected_affine(datasets):
    """Voxel -> RAS from the DICOM headers, computed independently of the server."""
    first, last = datasets[0], datasets[-1]
    iop = np.array(first.ImageOrientationPatient, dtype=float)
    rows, cols = (float(v) for v in first.PixelSpacing)
    r, c = iop[:3], iop[3:]
    p0 = np.array(first.ImagePositionPatient, dtype=float)
    if len(datasets) > 1:
        step = (np.array(last.ImagePositionPatient, dtype=float) - p0) / (len(datasets) - 1)
    else:
        step = np.cross(r, c)
    a = np.eye(4)
    a[:3, 0], a[:3, 1], a[:3, 2], a[:3, 3] = r * cols, c * rows, step, p0
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ a


files = sorted(os.path.join(STUDY, f) for f in os.listdir(STUDY))
series = slice_order([pydicom.dcmread(f) for f in files])
affine = expected_affine(series)


def check_label(path, what):
    img = nib.load(path)
    assert img.shape == (w, h, d), f"{what}: label shape {img.shape}, image {(w, h, d)}"
    assert np.allclose(img.affine, affine, atol=1e-3), f"{what}: affine\n{img.affine}\nexpected\n{affine}"
    label = np.asarray(img.dataobj).transpose(2, 1, 0)  # (x, y, z) -> (z, y, x) as the Arterys mask
    differ = int((label != expected).sum())
    assert differ == 0, f"{what}: {differ} voxels differ from the Arterys mask"
    print(f"{what}: same voxels as the Arterys mask ({int(expected.sum())} labelled of {expected.size})")


# ---- MONAI Label: the real client -----------------------------------------------------------
client = MONAILabelClient(URL, tmpdir=os.path.join(WORK, "monai"))
os.makedirs(os.path.join(WORK, "monai"), exist_ok=True)
info = client.info()
model = info["models"]["demo_body"]
assert (model["type"], model["labels"], model["dimension"]) == ("segmentation", {"Body": 1}, 2), model
assert info["labels"] == ["Body"], info
archive = os.path.join(WORK, "test_3d.zip")
with zipfile.ZipFile(archive, "w") as z:
    for f in files:
        z.write(f, os.path.join("series", os.path.basename(f)))
label_file, params = client.infer("demo_body", "test_3d", {"note": "kept"}, file=archive)
assert params["label_names"] == {"Body": 1} and params["params"]["note"] == "kept", params
assert params["classification"]["label"] in ("Body", "No body"), params
check_label(label_file, "MONAI Label")
# One DICOM file: a one-slice label placed on it.
ct = pydicom.dcmread(CT)
label_file, _ = client.infer("demo_body", "ct", {}, file=CT)
ct_label = nib.load(label_file)
assert ct_label.shape == (ct.Columns, ct.Rows, 1), ct_label.shape
assert np.allclose(ct_label.affine, expected_affine([ct]), atol=1e-3), ct_label.affine
# NIfTI in: the label lies exactly on the input (shape and affine) and matches the DICOM path.
volume = (ct.pixel_array * float(ct.RescaleSlope) + float(ct.RescaleIntercept)).astype(np.float32)
nifti_in = os.path.join(WORK, "ct.nii.gz")
nib.save(nib.Nifti1Image(volume.T[:, :, None], expected_affine([ct])), nifti_in)
label_file, _ = client.infer("demo_body", "ct-nifti", {}, file=nifti_in)
assert label_file != ct_label.get_filename(), "each label comes under a name of its own"
from_nifti, source = nib.load(label_file), nib.load(nifti_in)
assert from_nifti.shape == source.shape, (from_nifti.shape, source.shape)
assert np.allclose(from_nifti.affine, source.affine, atol=1e-5), from_nifti.affine
agree = float((np.asarray(from_nifti.dataobj) == np.asarray(ct_label.dataobj)).mean())
assert agree > 0.99, f"NIfTI and DICOM input labels agree on {agree:.4f} of the voxels"
assert np.asarray(from_nifti.dataobj).any(), "empty label from NIfTI input"
# Errors as MONAI Label gives them: status and {"detail": ...}.
for model_name, upload, status in [("nope", archive, "404"), ("demo_body", os.path.join(ROOT, "README.md"), "422")]:
    try:
        client.infer(model_name, "x", {}, file=upload)
        raise AssertionError(f"{model_name} with {upload}: no error")
    except MONAILabelClientException as e:
        assert f"Status: {status}" in e.msg and '"detail"' in e.msg, e.msg
# What this server cannot do, refused with the reason in MONAI Label's shape.
import requests  # noqa: E402

with open(CT, "rb") as f:
    ct_bytes = f.read()
for query, form_files, status, words in [
    ("?output=dicom_seg", {"file": ("ct.dcm", ct_bytes)}, 400, "dicom_seg"),
    ("?image=ct", {"params": (None, "{}")}, 400, "no datastore"),
]:
    r = requests.post(f"{URL}/infer/demo_body{query}", data={"params": "{}"}, files=form_files)
    assert r.status_code == status and words in r.json()["detail"], (query, r.status_code, r.text)
r = requests.post(f"{URL}/infer/demo_body", data={"params": "{not json"}, files={"file": ("ct.dcm", ct_bytes)})
assert r.status_code == 422 and "params" in r.json()["detail"], r.text
r = requests.post(f"{URL}/infer/demo_body", data={"params": "{}"})
assert r.status_code in (400, 415) and "multipart/form-data" in r.json()["detail"], r.text
print(f"MONAI Label: NIfTI input label on the input's grid ({agree:.4f} agreement with DICOM input)")

# ---- MLCube: mlcube.yaml as mlcube parses it, the infer command as its Docker runner builds it
from mlcube.config import MLCubeConfig
from mlcube.shell import Shell
from mlcube_docker.docker_run import DockerRun

workspace = os.path.join(WORK, "workspace")
shutil.copytree(os.path.join(ROOT, "mlcube/workspace"), workspace)
shutil.copytree(STUDY, os.path.join(workspace, "data", "test_3d"))
config = MLCubeConfig.create_mlcube_config(
    os.path.join(ROOT, "mlcube/mlcube.yaml"),
    workspace=workspace,
    runner_config=DockerRun.CONFIG.DEFAULT,
    runner_cls=DockerRun,
)
assert config.runner.image == config.docker.image, config.runner
recipe = os.path.join(config.runtime.root, config.runner.build_context, config.runner.build_file)
assert os.path.isfile(recipe), recipe
mounts, args, _ = Shell.generate_mounts_and_args(config, "infer")
inside = {container: host for host, container in mounts.items()}
host_args = []
for a in args:
    for container, host in inside.items():
        a = a.replace(f"={container}", f"={host}")
    host_args.append(a)
assert host_args[0] == "infer" and any(a.startswith("--output_path=") for a in host_args), host_args
run = subprocess.run([os.environ["MODEL_SERVER_BIN"], *host_args], capture_output=True, text=True)
assert run.returncode == 0, f"model-server {' '.join(host_args)}: {run.returncode}\n{run.stdout}{run.stderr}"
predictions_dir = os.path.join(workspace, "predictions")
predictions = json.load(open(os.path.join(predictions_dir, "predictions.json")))
entry = predictions["test_3d"]
assert entry["label"] == "test_3d.nii.gz" and entry["label_names"] == {"Body": 1}, entry
assert entry["classification"]["label"] == params["classification"]["label"], entry
check_label(os.path.join(predictions_dir, "test_3d.nii.gz"), "MLCube")

# ---- MD.ai: a real predict call on a data dict as the interface describes ------------------
sys.path.insert(0, os.path.join(ROOT, "mdai"))
from model import MDAIModel, ModelServerError  # noqa: E402

label_classes = [
    {"class_index": 0, "label": {"id": "L_0", "name": "No body", "type": "GLOBAL", "scope": "STUDY"}},
    {"class_index": 1, "label": {"id": "L_1", "name": "Body", "type": "LOCAL", "scope": "INSTANCE"}},
]
data = {
    "files": [{"content": open(f, "rb").read(), "content_type": "application/dicom"} for f in files],
    "annotations": [],
    "label_classes": label_classes,
    "args": {},
}
outputs = MDAIModel().predict(data)
masks = [o for o in outputs if "mask" in o.get("data", {})]
by_uid = {str(ds.SOPInstanceUID): z for z, ds in enumerate(series)}
seen = set()
for o in masks:
    z = by_uid[o["instance_uid"]]
    ds = series[z]
    assert o["type"] == "ANNOTATION" and o["class_index"] == 1, o
    assert (o["study_uid"], o["series_uid"]) == (str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID)), o
    got = np.array(o["data"]["mask"], dtype=np.uint8)
    assert got.shape == (h, w) and np.array_equal(got, expected[z]), f"MD.ai mask of slice {z} differs"
    seen.add(z)
assert all(expected[z].sum() == 0 for z in range(d) if z not in seen), "MD.ai left out a non-empty slice"
glob = [o for o in outputs if "probability" in o]
assert len(glob) == 1 and "instance_uid" not in glob[0], glob
assert sorted(p["class_index"] for p in glob[0]["probability"]) == [0, 1], glob
print(f"MD.ai: same voxels as the Arterys mask ({len(masks)} mask outputs, class {glob[0]['class_index']} for the study)")
try:
    MDAIModel().predict({"files": [{"content": b"not DICOM", "content_type": "application/dicom"}], "args": {}})
    raise AssertionError("a broken file gave no error")
except ModelServerError as e:
    assert "HTTP 4" in str(e), e
# The adapter starting its own model-server (MODEL_SERVER_BIN, MODEL_SERVER_CONFIG).
del os.environ["MODEL_SERVER_URL"]
own = MDAIModel()
try:
    single = own.predict({"files": [data["files"][0]], "args": {}, "label_classes": label_classes})
    assert own.url != URL and single and all(o["study_uid"] == str(series[0].StudyInstanceUID) for o in single)
finally:
    own.close()
print("MD.ai: adapter-started model-server answered")
