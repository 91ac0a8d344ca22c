import numpy as np

from pipeline import metrics


def test_classification_metrics_by_hand(tmp_path):
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 0]
    m = metrics.classification_metrics(y_true, y_pred, ["a", "b", "c"])
    assert m["accuracy"] == 4 / 6
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["per_class"]["b"] == {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2}
    f1_a = f1_c = 2 * 0.5 * 0.5 / 1.0
    assert np.isclose(m["macro_f1"], (f1_a + 0.8 + (2 * 1 * 0.5 / 1.5)) / 3)
    assert f1_c == 0.5
    metrics.plot_confusion_matrix(m, str(tmp_path / "cm.png"))
    assert (tmp_path / "cm.png").stat().st_size > 1000
