"""Capped oligomer chains of common polymers, built from repeat-unit SMILES with RDKit.

A repeat unit is a SMILES string with exactly two attachment points written ``[*]``: the
first is the head (bonds to the previous unit), the second the tail (bonds to the next unit).
``build_oligomer("polystyrene", 4)`` joins four units head-to-tail, caps both free ends with
hydrogen, adds hydrogens, embeds in 3D with ETKDG and relaxes with MMFF94 (UFF if MMFF has no
parameters). Stereocentres are left unspecified, so the seed picks a random (atactic) chain.

RDKit is an optional dependency: ``pip install equipot[polymers]``.
"""

from __future__ import annotations

import numpy as np

from equipot.errors import EquipotError, require

# (short name, family name, chemistry class, repeat unit with head/tail attachment points in that order)
FAMILY_TABLE: tuple[tuple[str, str, str, str], ...] = (
    ("pe", "polyethylene", "polyolefin", "[*]CC[*]"),
    ("pp", "polypropylene", "polyolefin", "[*]CC(C)[*]"),
    ("pib", "polyisobutylene", "polyolefin", "[*]CC(C)(C)[*]"),
    ("pbd", "cis-1,4-polybutadiene", "polyolefin", "[*]C/C=C\\C[*]"),
    ("pip", "cis-1,4-polyisoprene", "polyolefin", "[*]C/C(C)=C\\C[*]"),
    ("pvc", "poly(vinyl chloride)", "vinyl", "[*]CC(Cl)[*]"),
    ("ps", "polystyrene", "vinyl", "[*]CC(c1ccccc1)[*]"),
    ("pan", "polyacrylonitrile", "vinyl", "[*]CC(C#N)[*]"),
    ("pva", "poly(vinyl alcohol)", "vinyl", "[*]CC(O)[*]"),
    ("pvac", "poly(vinyl acetate)", "vinyl", "[*]CC(OC(C)=O)[*]"),
    ("pvdc", "poly(vinylidene chloride)", "vinyl", "[*]CC(Cl)(Cl)[*]"),
    ("pvf", "poly(vinyl fluoride)", "vinyl", "[*]CC(F)[*]"),
    ("pvsa", "poly(vinyl sulfonic acid)", "vinyl", "[*]CC(S(=O)(=O)O)[*]"),
    ("ptfe", "polytetrafluoroethylene", "fluoropolymer", "[*]C(F)(F)C(F)(F)[*]"),
    ("pvdf", "poly(vinylidene fluoride)", "fluoropolymer", "[*]CC(F)(F)[*]"),
    ("pctfe", "polychlorotrifluoroethylene", "fluoropolymer", "[*]C(F)(F)C(F)(Cl)[*]"),
    ("peo", "poly(ethylene oxide)", "polyether", "[*]CCO[*]"),
    ("pom", "polyoxymethylene", "polyether", "[*]CO[*]"),
    ("ppo", "poly(propylene oxide)", "polyether", "[*]CC(C)O[*]"),
    ("pthf", "polytetrahydrofuran", "polyether", "[*]CCCCO[*]"),
    ("pla", "poly(lactic acid)", "polyester", "[*]C(C)C(=O)O[*]"),
    ("pcl", "polycaprolactone", "polyester", "[*]CCCCCC(=O)O[*]"),
    ("pet", "PET", "polyester", "[*]OCCOC(=O)c1ccc(cc1)C(=O)[*]"),
    ("pbt", "poly(butylene terephthalate)", "polyester", "[*]OCCCCOC(=O)c1ccc(cc1)C(=O)[*]"),
    ("pc", "bisphenol-A polycarbonate", "polycarbonate", "[*]Oc1ccc(cc1)C(C)(C)c1ccc(cc1)OC(=O)[*]"),
    ("ppc", "poly(propylene carbonate)", "polycarbonate", "[*]CC(C)OC(=O)O[*]"),
    ("nylon6", "nylon-6", "polyamide", "[*]NCCCCCC(=O)[*]"),
    ("nylon66", "nylon-6,6", "polyamide", "[*]NCCCCCCNC(=O)CCCCC(=O)[*]"),
    ("paam", "polyacrylamide", "polyamide", "[*]CC(C(N)=O)[*]"),
    ("pu", "polyurethane (ethylene glycol, HDI)", "polyurethane", "[*]OCCOC(=O)NCCCCCCNC(=O)[*]"),
    ("pmma", "PMMA", "acrylate", "[*]CC(C)(C(=O)OC)[*]"),
    ("pma", "poly(methyl acrylate)", "acrylate", "[*]CC(C(=O)OC)[*]"),
    ("paa", "poly(acrylic acid)", "acrylate", "[*]CC(C(=O)O)[*]"),
    ("pps", "poly(phenylene sulfide)", "sulfur", "[*]c1ccc(cc1)S[*]"),
    ("pesu", "poly(ether sulfone)", "sulfur", "[*]c1ccc(cc1)S(=O)(=O)c1ccc(cc1)O[*]"),
    ("pes", "poly(ethylene sulfide)", "sulfur", "[*]CCS[*]"),
)

# family name -> repeat unit
POLYMER_FAMILIES: dict[str, str] = {name: smiles for _, name, _, smiles in FAMILY_TABLE}

# short names accepted on the command line and in file names
ALIASES: dict[str, str] = {short: name for short, name, _, _ in FAMILY_TABLE}
ALIASES.update({"peg": "poly(ethylene oxide)", "pa6": "nylon-6", "pa66": "nylon-6,6"})

# short name -> chemistry class (the unit that generalisation folds hold out whole)
POLYMER_CLASSES: dict[str, str] = {short: cls for short, _, cls, _ in FAMILY_TABLE}

# Leave-classes-out folds: every class is held out once, and every element of a held-out class
# stays in the training classes (F and S also have a vinyl family, N is in polyacrylonitrile),
# so that each fold tests unseen chemistry, not an unseen element.
CLASS_FOLDS: tuple[tuple[str, ...], ...] = (
    ("polyolefin", "fluoropolymer"),
    ("vinyl", "polyether"),
    ("polyester", "polycarbonate"),
    ("polyamide", "polyurethane"),
    ("acrylate", "sulfur"),
)


def family_of_file(path) -> tuple[str, int, float]:
    """(family short name, atoms, temperature K) of a dataset file ``<short>_<atoms>_<T>K.h5``."""
    from pathlib import Path

    parts = Path(path).name.removesuffix(".h5").split("_")
    if len(parts) != 3 or parts[0] not in POLYMER_CLASSES or not parts[2].endswith("K"):
        raise EquipotError(f"{path}: not a polymer dataset file named <family>_<atoms>_<T>K.h5")
    return parts[0], int(parts[1]), float(parts[2][:-1])


_HEAD, _TAIL = 1, 2  # isotope labels marking the two dummy atoms of a unit


def _rdkit():
    require("rdkit", "polymers", "building polymer chains")
    from rdkit import Chem
    from rdkit.Chem import AllChem

    return Chem, AllChem


def short_name(family: str) -> str:
    """A file-name-safe short name for a family (``"poly(vinyl chloride)" -> "pvc"``)."""
    for alias, name in ALIASES.items():
        if name == family:
            return alias
    return "".join(c for c in family.lower() if c.isalnum())


def repeat_smiles(family_or_smiles: str) -> str:
    """The repeat-unit SMILES of a family name, alias, or a SMILES given directly."""
    key = ALIASES.get(family_or_smiles.lower(), family_or_smiles)
    if key in POLYMER_FAMILIES:
        return POLYMER_FAMILIES[key]
    if family_or_smiles.count("*") == 2:
        return family_or_smiles
    raise EquipotError(
        f"unknown polymer {family_or_smiles!r}: use one of {sorted(POLYMER_FAMILIES)} "
        f"(or aliases {sorted(ALIASES)}) or a repeat-unit SMILES with two [*] attachment points"
    )


def _unit(smiles: str):
    Chem, _ = _rdkit()
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise EquipotError(f"RDKit cannot parse the repeat unit {smiles!r}")
    dummies = [a for a in mol.GetAtoms() if a.GetAtomicNum() == 0]
    if len(dummies) != 2 or any(a.GetDegree() != 1 for a in dummies):
        raise EquipotError(f"repeat unit {smiles!r} needs exactly two [*] attachment points, each on one atom")
    dummies[0].SetIsotope(_HEAD)
    dummies[1].SetIsotope(_TAIL)
    return mol


def oligomer_mol(family_or_smiles: str, n_repeat: int):
    """RDKit molecule (explicit H, no coordinates) of an H-capped ``n_repeat``-mer."""
    Chem, _ = _rdkit()
    if n_repeat < 1:
        raise EquipotError(f"n_repeat must be at least 1, got {n_repeat}")
    unit = _unit(repeat_smiles(family_or_smiles))
    chain = Chem.Mol(unit)
    for _ in range(n_repeat - 1):
        n_old = chain.GetNumAtoms()
        rw = Chem.RWMol(Chem.CombineMols(chain, unit))
        tail = next(a for a in rw.GetAtoms() if a.GetIdx() < n_old and a.GetIsotope() == _TAIL)
        head = next(a for a in rw.GetAtoms() if a.GetIdx() >= n_old and a.GetIsotope() == _HEAD)
        # bond the atoms the two dummies hang on, then drop the dummies (higher index first)
        a, b = tail.GetNeighbors()[0].GetIdx(), head.GetNeighbors()[0].GetIdx()
        rw.AddBond(a, b, Chem.BondType.SINGLE)
        for idx in sorted((tail.GetIdx(), head.GetIdx()), reverse=True):
            rw.RemoveAtom(idx)
        chain = rw.GetMol()
    rw = Chem.RWMol(chain)
    for atom in rw.GetAtoms():  # cap the two free ends with hydrogen
        if atom.GetAtomicNum() == 0:
            atom.SetAtomicNum(1)
            atom.SetIsotope(0)
    mol = rw.GetMol()
    Chem.SanitizeMol(mol)
    return Chem.AddHs(mol)


def atoms_per_repeat(family_or_smiles: str) -> tuple[int, int]:
    """(atoms added per repeat unit, atoms of the two caps): n atoms = caps + n_repeat * per_unit."""
    one = oligomer_mol(family_or_smiles, 1).GetNumAtoms()
    two = oligomer_mol(family_or_smiles, 2).GetNumAtoms()
    return two - one, one - (two - one)


def n_repeat_for_atoms(family_or_smiles: str, target_atoms: int) -> int:
    """The number of repeat units whose capped chain is closest to ``target_atoms`` atoms (>= 1)."""
    per_unit, caps = atoms_per_repeat(family_or_smiles)
    return max(1, int(round((target_atoms - caps) / per_unit)))


def build_oligomer(family_or_smiles: str, n_repeat: int, seed: int = 0, relax: bool = True):
    """An H-capped oligomer as ``ase.Atoms`` with 3D coordinates (Å), centred at the origin.

    Args:
        family_or_smiles: a key of ``POLYMER_FAMILIES``, an alias (``"pvc"``) or a repeat-unit
            SMILES with two ``[*]`` attachment points.
        n_repeat: number of repeat units.
        seed: ETKDG random seed (conformer and, for unspecified stereocentres, tacticity).
        relax: relax with MMFF94 (UFF when MMFF lacks parameters).
    """
    from ase import Atoms

    Chem, AllChem = _rdkit()
    mol = oligomer_mol(family_or_smiles, n_repeat)
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed)
    # ETKDG's torsion/linearity knowledge can make long chains with several nitriles fail
    # after minutes of retries: bound the attempts, then fall back to plain distance geometry
    # (the force-field relaxation below restores good local geometry)
    params.maxIterations = 200
    if AllChem.EmbedMolecule(mol, params) != 0:
        params.useBasicKnowledge = False
        params.useExpTorsionAnglePrefs = False
        if AllChem.EmbedMolecule(mol, params) != 0:
            # long flexible chains: start from random coordinates instead of eigenvector embedding
            params.useRandomCoords = True
            if AllChem.EmbedMolecule(mol, params) != 0:
                raise EquipotError(f"RDKit could not embed a {n_repeat}-mer of {family_or_smiles!r} in 3D")
    if relax:
        if AllChem.MMFFHasAllMoleculeParams(mol):
            AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
        else:
            AllChem.UFFOptimizeMolecule(mol, maxIters=2000)
    positions = mol.GetConformer().GetPositions()
    atoms = Atoms(numbers=[a.GetAtomicNum() for a in mol.GetAtoms()], positions=positions - positions.mean(0))
    atoms.info.update(
        polymer=str(family_or_smiles), n_repeat=int(n_repeat), smiles=Chem.MolToSmiles(Chem.RemoveHs(mol))
    )
    return atoms


def min_distance(atoms) -> float:
    """Shortest interatomic distance (Å): a quick sanity check on an embedded chain."""
    d = np.linalg.norm(atoms.positions[:, None] - atoms.positions[None], axis=-1)
    return float(d[np.triu_indices(len(atoms), 1)].min())


def polyethylene_crystal(repeat: tuple[int, int, int] = (1, 1, 1)):
    """Orthorhombic crystalline polyethylene: two zig-zag chains along z per cell (C4H8,
    a = 7.42, b = 4.95, c = 2.55 Å), repeated ``repeat`` times; periodic. Carbons sit 0.4 Å off
    the chain axes, hydrogens about 1.09 Å from their carbon: a compact test system for
    periodic code, not a relaxed structure."""
    from ase import Atoms

    a, b, c = 7.42, 4.95, 2.55
    positions = []
    for x0, y0, phase in [(0.0, 0.0, 1.0), (a / 2, b / 2, -1.0)]:
        for k in range(2):
            s = phase * (1 if k == 0 else -1)
            cx, cy, z = x0 + 0.35 * s, y0 + 0.25 * s, k * c / 2
            positions.append((cx, cy, z))
            positions += [(cx + 0.55 * s + 0.3 * h, cy + 0.5 * s - 0.55 * h, z) for h in (-1, 1)]
    cell = Atoms("CH2CH2CH2CH2", positions=positions, cell=[a, b, c], pbc=True)
    cell.wrap()
    return cell.repeat(repeat)
