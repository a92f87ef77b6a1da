"""The generated dataset on disk: determinism, formats, statistics and its evaluation."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

import numpy as np
import pytest

from edgekit.eval import evaluate, yolo_to_coco
from edgekit.testing import CLASS_NAMES, DatasetInfo, generate, render_sample
from tests.conftest import need

cv2 = need("cv2")

COUNTS = {"train": 4, "val": 2, "test": 30}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> DatasetInfo:
    return generate(
        tmp_path_factory.mktemp("shapes") / "ds", COUNTS["train"], COUNTS["val"], COUNTS["test"], seed=3
    )


def tree(root: Path) -> Dict[str, bytes]:
    """Every written file except data.yaml (which names the absolute folder)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "data.yaml"
    }


def test_layout_and_counts(dataset: DatasetInfo) -> None:
    for split, n in COUNTS.items():
        assert len(list(dataset.images(split).glob("*.jpg"))) == n
        assert len(list(dataset.labels(split).glob("*.txt"))) == n
        coco = json.loads(dataset.annotations(split).read_text())
        assert len(coco["images"]) == n
        # Ultralytics' predictions.json uses int(file stem) as image id: it must be the COCO id
        assert all(int(Path(i["file_name"]).stem) == i["id"] for i in coco["images"])
        assert dataset.splits[split].images == n
        assert dataset.splits[split].objects == len(coco["annotations"])
    assert len(dataset.names) >= 6 and dataset.names == CLASS_NAMES
    assert (
        json.loads((dataset.root / "dataset.json").read_text())["splits"]["test"]["images"] == COUNTS["test"]
    )


def test_data_yaml_is_what_ultralytics_reads(dataset: DatasetInfo) -> None:
    yaml = need("yaml")
    data = yaml.safe_load(dataset.data_yaml.read_text())
    assert Path(data["path"]) == dataset.root.resolve()
    assert (data["train"], data["val"], data["test"]) == ("images/train", "images/val", "images/test")
    assert data["names"] == dict(enumerate(CLASS_NAMES)) and data["nc"] == len(CLASS_NAMES)


def test_yolo_txt_and_coco_json_agree(dataset: DatasetInfo) -> None:
    for split in COUNTS:
        coco = json.loads(dataset.annotations(split).read_text())
        from_txt = yolo_to_coco(dataset.images(split), dataset.labels(split), CLASS_NAMES)
        assert [i["file_name"] for i in from_txt["images"]] == [i["file_name"] for i in coco["images"]]
        a = [(x["image_id"], x["category_id"]) for x in coco["annotations"]]
        b = [(x["image_id"], x["category_id"]) for x in from_txt["annotations"]]
        assert a == b
        boxes_a = np.array([x["bbox"] for x in coco["annotations"]], float)
        boxes_b = np.array([x["bbox"] for x in from_txt["annotations"]], float)
        np.testing.assert_allclose(boxes_a, boxes_b, atol=1e-3)


def test_boxes_inside_images_and_categories_one_based(dataset: DatasetInfo) -> None:
    coco = json.loads(dataset.annotations("test").read_text())
    assert [c["id"] for c in coco["categories"]] == list(range(1, len(CLASS_NAMES) + 1))
    for ann in coco["annotations"]:
        x, y, w, h = ann["bbox"]
        assert x >= 0 and y >= 0 and w >= 4 and h >= 4 and x + w <= 320 and y + h <= 320
        assert ann["area"] == w * h and ann["iscrowd"] == 0 and ann["id"] >= 1


def test_a_third_of_objects_are_small(dataset: DatasetInfo) -> None:
    stats = dataset.splits["test"]
    assert stats.small + stats.medium + stats.large == stats.objects
    assert stats.small >= stats.objects / 3
    assert stats.large > 0 and stats.medium > 0
    assert sum(n > 0 for n in stats.per_class.values()) >= 6


def test_ground_truth_as_predictions_scores_one(dataset: DatasetInfo) -> None:
    coco = json.loads(dataset.annotations("test").read_text())
    preds = [dict(a, score=1.0) for a in coco["annotations"]]
    assert evaluate(dataset.annotations("test"), preds).map50_95 == 1.0


def test_same_seed_same_bytes_different_seed_different(dataset: DatasetInfo, tmp_path: Path) -> None:
    again = generate(tmp_path / "again", COUNTS["train"], COUNTS["val"], COUNTS["test"], seed=3)
    assert tree(again.root) == tree(dataset.root)
    other = tree(generate(tmp_path / "other", 0, 0, 5, seed=4).root)
    ours = tree(dataset.root)
    for i in range(5):
        for name in (f"labels/test/{i + 1:06d}.txt", f"images/test/{i + 1:06d}.jpg"):
            assert other[name] != ours[name], name


def test_parallel_and_partial_generation_give_the_same_images(dataset: DatasetInfo, tmp_path: Path) -> None:
    par = generate(tmp_path / "par", 0, 0, 8, seed=3, workers=2)
    ours = tree(dataset.root)
    for name, data in tree(par.root).items():
        if name.startswith(("images/test/", "labels/test/")):
            assert ours[name] == data, name


def test_render_sample_is_the_written_image(dataset: DatasetInfo) -> None:
    coco = json.loads(dataset.annotations("test").read_text())
    for index in (0, 17):
        sample = render_sample(seed=3, imgsz=320, index=index, split="test")
        on_disk = cv2.imread(str(dataset.images("test") / f"{index + 1:06d}.jpg"))[..., ::-1]
        assert np.array_equal(sample.image, on_disk)
        anns = [a for a in coco["annotations"] if a["image_id"] == index + 1]
        expected = np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)]).reshape(-1, 4)
        np.testing.assert_array_equal(sample.boxes, expected)
        np.testing.assert_array_equal(sample.class_ids, [a["category_id"] - 1 for a in anns])
        assert np.array_equal(sample.bgr, on_disk[..., ::-1])


def test_refuses_to_mix_with_an_earlier_dataset(dataset: DatasetInfo, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    generate(root, 0, 0, 3, seed=1)
    with pytest.raises(FileExistsError):
        generate(root, 0, 0, 2, seed=1)
    generate(root, 0, 0, 2, seed=1, overwrite=True)
    assert len(list((root / "images" / "test").iterdir())) == 2
    generate(root, 0, 2, 0, seed=1, overwrite=True)  # no test split any more: none of it is left
    assert not (root / "images" / "test").exists() and not (root / "annotations" / "test.json").exists()
    assert "test:" not in (root / "data.yaml").read_text()
    with pytest.raises(ValueError):
        generate(tmp_path / "none", 0, 0, 0)


def test_photo_backgrounds(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        img = cv2.GaussianBlur(rng.integers(0, 255, (90, 140, 3), dtype=np.uint8), (0, 0), 3)
        cv2.imwrite(str(photos / f"p{i}.png"), img)
    a = generate(tmp_path / "a", 0, 0, 6, seed=0, photos_dir=photos)
    b = generate(tmp_path / "b", 0, 0, 6, seed=0, photos_dir=photos)
    plain = generate(tmp_path / "plain", 0, 0, 6, seed=0)
    assert tree(a.root) == tree(b.root)
    assert tree(a.root) != tree(plain.root)
    with pytest.raises(ValueError, match="no images"):
        generate(tmp_path / "c", 0, 0, 1, photos_dir=tmp_path / "a" / "labels")


@pytest.mark.slow
def test_held_out_test_split_of_500(tmp_path: Path) -> None:
    start = time.perf_counter()
    info = generate(tmp_path / "ds", 0, 0, 500, seed=0, workers=2)
    seconds = time.perf_counter() - start
    stats = info.splits["test"]
    assert stats.images == 500 == len(list(info.images("test").glob("*.jpg")))
    assert stats.small >= stats.objects / 3
    assert min(stats.per_class.values()) >= 0.05 * stats.objects  # every class well represented
    assert stats.occluded > 0
    print(f"\n500 test images in {seconds:.1f} s: {stats}")


def test_importing_does_not_import_the_optional_dependencies() -> None:
    code = (
        "import sys, edgekit.testing, edgekit.eval; "
        "print(sorted(m for m in ('cv2', 'faster_coco_eval', 'yaml') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
