"""Learning-curve and parity plots (PNG)."""

from __future__ import annotations

from pathlib import Path

from equipot.plotting import pyplot


def plot_learning_curve(history: list[dict], path: str | Path) -> None:
    if not history:
        return
    plt = pyplot()
    epochs = [r["epoch"] for r in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.semilogy(epochs, [r["train_loss"] for r in history], label="train")
    ax1.semilogy(epochs, [r["val_loss"] for r in history], label="validation")
    ax1.set(xlabel="epoch", ylabel="loss", title="loss")
    ax1.legend()
    ax2.semilogy(epochs, [r["val_force_mae"] for r in history], label="force MAE (meV/Å)")
    ax2.semilogy(epochs, [r["val_energy_per_atom_mae"] for r in history], label="energy MAE (meV/atom)")
    ax2.set(xlabel="epoch", title="validation error")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_parity(arrays, metrics: dict, path: str | Path, title: str = "") -> None:
    """arrays = (energy_pred, energy_ref, forces_pred, forces_ref, n_atoms), eV and eV/Å."""
    plt = pyplot()
    e_p, e_r, f_p, f_r, n = arrays
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.5))
    _parity(
        ax1, e_r / n, e_p / n, 4, 0.6, "energy", "eV/atom", f"energy MAE {metrics['energy_per_atom_mae']:.2f} meV/atom"
    )
    _parity(
        ax2,
        f_r.reshape(-1),
        f_p.reshape(-1),
        2,
        0.3,
        "force component",
        "eV/Å",
        f"force MAE {metrics['force_mae']:.1f} meV/Å",
    )
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _parity(ax, reference, predicted, size: float, alpha: float, what: str, unit: str, title: str) -> None:
    """Predicted against reference on ``ax``, with the diagonal."""
    ax.scatter(reference, predicted, s=size, alpha=alpha)
    lims = [min(reference.min(), predicted.min()), max(reference.max(), predicted.max())]
    ax.plot(lims, lims, "k--", lw=0.8)
    ax.set(xlabel=f"reference {what} ({unit})", ylabel=f"predicted ({unit})", title=title)
