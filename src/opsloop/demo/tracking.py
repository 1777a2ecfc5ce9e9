"""A tracked learning-rate sweep on synthetic credit data (NumPy only, seconds to run)."""

from __future__ import annotations

from typing import Any

EXPERIMENT = "credit-risk-demo"
FEATURES = ["income", "debt_ratio", "age", "late_payments"]


def make_applicants(n: int = 4000, seed: int = 7) -> Any:
    """Synthetic applicants with a known relation between features and default."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.5, 0.5, n)
    debt_ratio = rng.beta(2, 5, n)
    age = rng.integers(21, 75, n)
    late = rng.poisson(0.6, n)
    logit = -1.2 - 0.9 * (np.log(income) - 10.5) + 3.0 * (debt_ratio - 0.3) \
        + 0.6 * late - 0.01 * (age - 45)
    default = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({"income": income.round(2), "debt_ratio": debt_ratio.round(4),
                         "age": age, "late_payments": late, "default": default.astype(int)})


def _auc(y: Any, score: Any) -> float:
    """ROC AUC via the rank-sum formula (ties get average ranks)."""
    import pandas as pd

    ranks = pd.Series(score).rank().to_numpy()
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _train(run: Any, x: Any, y: Any, x_val: Any, y_val: Any, lr: float,
           epochs: int) -> float:
    import numpy as np

    w = np.zeros(x.shape[1])
    b = 0.0
    for _ in range(epochs):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        w -= lr * (x.T @ (p - y) / len(y))
        b -= lr * float((p - y).mean())
        eps = 1e-12
        loss = float(-(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)).mean())
        run.log_metric("train_loss", loss)
        run.log_metric("val_auc", _auc(y_val, x_val @ w + b))
    return _auc(y_val, x_val @ w + b)


def run_demo(console: Any = None, *, epochs: int = 60) -> str:
    """Run the sweep; returns the id of the best run."""
    import numpy as np
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    import opsloop

    console = console or Console()
    client = opsloop.get_client()
    console.print(f"[bold]opsloop demo[/] - metadata in {client.settings.database_url}")
    data = make_applicants()
    train, val = data.iloc[:3000], data.iloc[3000:]
    mean, std = train[FEATURES].mean(), train[FEATURES].std()
    x, x_val = ((d[FEATURES] - mean) / std for d in (train, val))
    y, y_val = train["default"].to_numpy(), val["default"].to_numpy()

    rates = [0.03, 0.1, 0.3, 1.0]
    with opsloop.start_run(experiment=EXPERIMENT, name="lr-sweep",
                           tags={"demo": "tracking"}) as sweep, Progress(console=console) as bar:
        sweep.log_dataset(train, name="applicants-train", role="train")
        sweep.log_dataset(val, name="applicants-val", role="eval")
        task = bar.add_task("training", total=len(rates))
        for lr in rates:
            with opsloop.start_run(nested=True, params={"lr": lr, "epochs": epochs,
                                                        "model": "logreg"}) as run:
                auc = _train(run, x.to_numpy(), y, x_val.to_numpy(), y_val, lr, epochs)
                run.log_metric("final_val_auc", auc)
            bar.advance(task)
        sweep.log_metric("default_rate", float(np.mean(y)))

    best = client.search_runs(EXPERIMENT, filter=f"parent_id = '{sweep.id}'",
                              order_by=["metrics.final_val_auc desc"], max_results=10).items
    table = Table(title="learning-rate sweep", header_style="bold cyan")
    for col in ("run", "lr", "final val AUC", "train loss"):
        table.add_column(col)
    for r in best:
        table.add_row(r.name, r.params["lr"], f"{r.metrics['final_val_auc']:.4f}",
                      f"{r.metrics['train_loss']:.4f}")
    console.print(table)
    console.print(f"best run: [bold]{best[0].id}[/] - try: opsloop runs show {best[0].id}")
    console.print("filter example: opsloop runs list -e credit-risk-demo "
                  "-f \"metrics.final_val_auc > 0.6\" -o \"metrics.final_val_auc desc\"")
    return best[0].id
