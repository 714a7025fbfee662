"""What the run figures say: titles with method, dataset, steps and the headline metric, the coverage threshold
on the samples-per-mode bars, and the image class plot's names, aligned steps and unclipped title."""
import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from matplotlib.patches import StepPatch

from conftest import compose_run
from core import figures as core_figures
from engine import figures
from image_helpers import image_bundle
from metrics import image_plots, plots


@pytest.fixture
def drawn(monkeypatch):
    """Figures as save_figure lays them out (tight layout, drawn), kept instead of closed: {file name: Figure}."""
    kept = {}

    def keep(fig, path):
        fig.tight_layout()
        fig.canvas.draw()
        kept[path.name] = fig
        return path

    for module in (plots, image_plots):
        monkeypatch.setattr(module, "save_figure", keep)
    yield kept
    for fig in kept.values():
        core_figures.plt.close(fig)


def _suptitle(fig) -> str:
    return fig._suptitle.get_text() if fig._suptitle is not None else ""


def test_toy_titles_name_method_dataset_steps_and_metric_and_bars_show_the_threshold(drawn, tmp_path):
    cfg, _ = compose_run(["dataset=ring", "trainer.steps=1234", "metrics.modes.min_count=37", "plots.replicas=1"])
    data = instantiate(cfg.dataset).load("cpu")
    method = type("M", (), {"sampler": type("S", (), {"probabilities": lambda self, m: None})(),
                            "plots": lambda self, *a: {}})()
    counts = [60, 10, 0, 80, 55, 40, 90, 70]
    results = [{"nb_modes": 5, "mode_counts": counts}]
    images = figures.run_figures(cfg, tmp_path, data, method, torch.randn(1, 500, 2), results, [3],
                                 method_name="rls_discr")
    assert set(images) == {"samples/seed3", "modes/seed3"}
    scatter, bars = drawn["samples_seed3.png"], drawn["modes_seed3.png"]
    title = scatter.axes[0].get_title()
    assert title == "rls_discr on ring | 1234 steps | seed 3 | nb_modes = 5" and _suptitle(bars) == title
    generated = bars.axes[1]
    assert generated.get_ylabel() and bars.axes[0].get_ylabel()
    lines = [ln for ln in generated.get_lines() if np.allclose(ln.get_ydata(), 37)]
    assert len(lines) == 1  # the metric config's min_count, not a literal 50
    assert [p.get_height() for p in generated.patches] == counts


def test_image_class_plot_names_classes_aligns_steps_and_keeps_its_title(drawn, tmp_path):
    data = image_bundle(n=150, counts=[100, 40, 10])
    data.images.class_names = ["zero", "one", "two"]
    long_title = "rls_class on mnist012_unbalanced | 30000 steps | seed 0 | kl_classes = 0.1234"
    image_plots.class_histogram(tmp_path / "classes.png", data, [60, 40, 15], long_title, other=5)
    fig = drawn["classes.png"]
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["zero", "one", "two"]
    bars = [p for p in ax.patches if not isinstance(p, StepPatch)]
    centres = [b.get_x() + b.get_width() / 2 for b in bars]
    for step in (p for p in ax.patches if isinstance(p, StepPatch)):
        edges = step.get_data().edges
        np.testing.assert_allclose((edges[:-1] + edges[1:]) / 2, centres)  # each step centred on its bar
    observed = next(p for p in ax.patches if isinstance(p, StepPatch) and p.get_label() == "training set")
    np.testing.assert_allclose(observed.get_data().values, np.array([100, 40, 10]) / 150)
    renderer = fig.canvas.get_renderer()
    box, page = fig._suptitle.get_window_extent(renderer), fig.bbox
    assert long_title in _suptitle(fig)
    assert box.x0 >= page.x0 and box.x1 <= page.x1 and box.y1 <= page.y1  # not clipped by the page
