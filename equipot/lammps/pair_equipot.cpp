// SPDX-License-Identifier: GPL-2.0-only
// pair_style equipot: an equipot potential inside LAMMPS, as a plugin.
//
// Part of equipot; this file alone is under the GNU General Public License, version 2 (see
// LICENSE-GPL-2.0 beside it), as LAMMPS requires of code linked with it. The rest of equipot is MIT.
//
//   pair_style equipot MODEL [exchange|full]   # checkpoint path or shipped model name
//   pair_coeff * * H C N O                     # element of each LAMMPS atom type
//
// The model runs in the Python interpreter of the process (``equipot lammps`` starts LAMMPS
// from Python and registers the callbacks below before loading this plugin). Each rank hands
// its local and ghost atoms and the pairs of its full neighbour list to Python, which returns
// the energy of every local atom and the force on every local and ghost atom; LAMMPS sums ghost
// forces onto their owners (newton on). A message-passing model sees (blocks + 1) cutoffs away.
//
// "exchange" (the default): the ghost shell is one cutoff deep and only local atoms receive
// messages; before each block Python calls equipot_exchange, which copies the node features
// of every ghost from its owner (forward communication), and in the backward pass sums the
// gradients of ghost features onto their owners (reverse communication).
// "full": the ghost shell is (blocks + 1) cutoffs deep and ghosts compute their own features,
// with no communication inside the model (more atoms per rank, fewer messages).

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "pair.h"
#include "utils.h"

#include <cstring>
#include <string>
#include <vector>

using namespace LAMMPS_NS;

extern "C" {
// set up the model named ``spec`` for feature exchange (1) or a full ghost shell (0): its cutoff (Å),
// message-passing depth (hops) and node features per atom; 0 on success
typedef int (*equipot_setup_fn)(const char *spec, int exchange, double *cutoff, int *hops, int *features,
                                char *err, int errlen);
// the elements that atom types map to, "H C N O" (element index k is the k-th); 0 if all known
typedef int (*equipot_elements_fn)(const char *symbols, char *err, int errlen);
// energies of the first ``nlocal`` atoms and forces on all ``natoms`` (local, then ghost); with
// ``virial`` (else null), each atom's share of the virial (xx yy zz xy xz yz, natoms x 6): half of
// -r (x) dE/dr of every pair it is in, so that the shares sum to the virial of the forces
typedef int (*equipot_compute_fn)(int natoms, int nlocal, const double *x, const int *element,
                                  int nedges, const int *edges, double *energy, double *forces,
                                  double *virial, char *err, int errlen);

static equipot_setup_fn setup_cb = nullptr;
static equipot_elements_fn elements_cb = nullptr;
static equipot_compute_fn compute_cb = nullptr;

void equipot_register(equipot_setup_fn s, equipot_elements_fn e, equipot_compute_fn c)
{
  setup_cb = s;
  elements_cb = e;
  compute_cb = c;
}

// rows (natoms x nfeat, local then ghost atoms): forward (reverse = 0) copies owners' rows into
// their ghosts; reverse (1) adds ghosts' rows onto their owners. Only during a force call.
int equipot_exchange(double *rows, int nfeat, int reverse);
}

namespace LAMMPS_NS {

class PairEquipot : public Pair {
 public:
  PairEquipot(LAMMPS *lmp) : Pair(lmp)
  {
    single_enable = 0;
    restartinfo = 0;
    one_coeff = 1;
    manybody_flag = 1;
    ghostneigh = 1;
    centroidstressflag = CENTROID_NOTAVAIL;
  }

  ~PairEquipot() override
  {
    if (allocated) {
      memory->destroy(setflag);
      memory->destroy(cutsq);
      memory->destroy(cutghost);
    }
    // map and elements belong to the base class, which frees them
  }

  void settings(int narg, char **arg) override
  {
    if (narg < 1 || narg > 2)
      error->all(FLERR, "Illegal pair_style equipot command: use pair_style equipot MODEL [exchange|full]");
    if (narg == 2) {
      if (strcmp(arg[1], "exchange") == 0) exchange = 1;
      else if (strcmp(arg[1], "full") == 0) exchange = 0;
      else error->all(FLERR, "pair_style equipot: unknown option {}; use exchange or full", arg[1]);
    }
    if (!setup_cb) error->all(FLERR, "pair_style equipot: run LAMMPS through `equipot lammps`, which sets up the model");
    char err[1024] = {0};
    if (setup_cb(arg[0], exchange, &cutoff, &hops, &features, err, sizeof(err)) != 0)
      error->all(FLERR, "pair_style equipot: {}", err);
    // exchange: only local atoms need neighbours; full: ghosts compute their features too
    ghostneigh = exchange ? 0 : 1;
    comm_forward = comm_reverse = exchange ? features : 0;
  }

  // called from Python (through equipot_exchange) while compute() is running
  int exchange_rows(double *rows, int nfeat, int reverse)
  {
    if (!exchange || nfeat > comm_forward) return 1;
    xrows = rows;
    xfeat = nfeat;
    if (reverse) comm->reverse_comm(this, nfeat);
    else comm->forward_comm(this, nfeat);
    xrows = nullptr;
    return 0;
  }

  int pack_forward_comm(int n, int *list, double *buf, int, int *) override
  {
    for (int i = 0; i < n; i++) std::memcpy(buf + (size_t) i * xfeat, xrows + (size_t) list[i] * xfeat, xfeat * sizeof(double));
    return n * xfeat;
  }

  void unpack_forward_comm(int n, int first, double *buf) override
  {
    std::memcpy(xrows + (size_t) first * xfeat, buf, (size_t) n * xfeat * sizeof(double));
  }

  int pack_reverse_comm(int n, int first, double *buf) override
  {
    std::memcpy(buf, xrows + (size_t) first * xfeat, (size_t) n * xfeat * sizeof(double));
    return n * xfeat;
  }

  void unpack_reverse_comm(int n, int *list, double *buf) override
  {
    for (int i = 0; i < n; i++)
      for (int k = 0; k < xfeat; k++) xrows[(size_t) list[i] * xfeat + k] += buf[(size_t) i * xfeat + k];
  }

  void coeff(int narg, char **arg) override
  {
    if (!allocated) allocate();
    map_element2type(narg - 2, arg + 2);
    for (int i = 1; i <= atom->ntypes; i++)
      if (map[i] < 0) error->all(FLERR, "pair_coeff equipot: atom type {} has no element (NULL)", i);
    // the distinct elements, in the order of their indices in map[]
    std::string symbols;
    for (int k = 0; k < nelements; k++) symbols += std::string(elements[k]) + " ";
    char err[1024] = {0};
    if (elements_cb(symbols.c_str(), err, sizeof(err)) != 0) error->all(FLERR, "pair_coeff equipot: {}", err);
  }

  void init_style() override
  {
    if (force->newton_pair == 0) error->all(FLERR, "pair_style equipot requires newton pair on");
    neighbor->add_request(this, exchange ? NeighConst::REQ_FULL : NeighConst::REQ_FULL | NeighConst::REQ_GHOST);
    // every atom within (hops x) cutoff of an owned atom must be a ghost: the shell is set here
    // unless the input set one (comm_modify cutoff), which must then be deep enough
    const int depth = exchange ? 1 : hops;
    const double needed = depth * cutoff + neighbor->skin;
    if (comm->cutghostuser == 0.0) comm->cutghostuser = needed;
    if (comm->cutghostuser < needed - 1e-10)
      error->all(FLERR, "pair_style equipot needs a communication cutoff of at least {:.3f} Angstrom ({} message-"
                 "passing hops of {} plus the neighbor skin); comm_modify cutoff set {:.3f}: raise it or leave "
                 "it out", needed, depth, cutoff, comm->cutghostuser);
  }

  double init_one(int i, int j) override
  {
    cutghost[i][j] = cutghost[j][i] = cutoff;
    return cutoff;
  }

  void compute(int eflag, int vflag) override
  {
    ev_init(eflag, vflag);
    const int nlocal = atom->nlocal, natoms = atom->nlocal + atom->nghost;
    double **x = atom->x, **f = atom->f;
    const int *type = atom->type;
    const double cutsq0 = cutoff * cutoff;

    pos.resize(3 * (size_t) natoms);
    element.resize(natoms);
    for (int i = 0; i < natoms; i++) {
      for (int k = 0; k < 3; k++) pos[3 * i + k] = x[i][k];
      element[i] = map[type[i]];
    }
    // edges j -> i within the cutoff, for owned atoms (and, with a full shell, ghosts)
    edges.clear();
    const int nlist = exchange ? list->inum : list->inum + list->gnum;
    for (int ii = 0; ii < nlist; ii++) {
      const int i = list->ilist[ii];
      const int *jlist = list->firstneigh[i];
      for (int jj = 0; jj < list->numneigh[i]; jj++) {
        const int j = jlist[jj] & NEIGHMASK;
        const double dx = x[j][0] - x[i][0], dy = x[j][1] - x[i][1], dz = x[j][2] - x[i][2];
        if (dx * dx + dy * dy + dz * dz < cutsq0) {
          edges.push_back(j);
          edges.push_back(i);
        }
      }
    }
    energy.assign(nlocal, 0.0);
    forces.assign(3 * (size_t) natoms, 0.0);
    virial.assign(vflag_atom ? 6 * (size_t) natoms : 0, 0.0);
    char err[1024] = {0};
    active = this;
    const int status =
        compute_cb(natoms, nlocal, pos.data(), element.data(), (int) (edges.size() / 2), edges.data(),
                   energy.data(), forces.data(), vflag_atom ? virial.data() : nullptr, err, sizeof(err));
    active = nullptr;
    if (status != 0) error->one(FLERR, "pair_style equipot: {}", err);
    for (int i = 0; i < natoms; i++)
      for (int k = 0; k < 3; k++) f[i][k] += forces[3 * i + k];
    if (eflag_global)
      for (int i = 0; i < nlocal; i++) eng_vdwl += energy[i];
    if (eflag_atom)
      for (int i = 0; i < nlocal; i++) eatom[i] += energy[i];
    if (vflag_fdotr) virial_fdotr_compute();
    if (vflag_atom)    // ghosts' shares go to their owners by reverse communication (newton on)
      for (int i = 0; i < natoms; i++)
        for (int k = 0; k < 6; k++) vatom[i][k] += virial[6 * i + k];
  }

  static PairEquipot *active;    // the instance whose compute() is running, for equipot_exchange

 private:
  double cutoff = 0.0;
  int hops = 1, features = 0, exchange = 1;
  double *xrows = nullptr;    // the rows being exchanged, xfeat values per atom
  int xfeat = 0;
  std::vector<double> pos, energy, forces, virial;
  std::vector<int> element, edges;

  void allocate()
  {
    allocated = 1;
    const int n = atom->ntypes + 1;
    memory->create(setflag, n, n, "pair:setflag");
    memory->create(cutsq, n, n, "pair:cutsq");
    memory->create(cutghost, n, n, "pair:cutghost");
    map = new int[n];
    for (int i = 0; i < n; i++) map[i] = -1;
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++) setflag[i][j] = 0;
  }
};

PairEquipot *PairEquipot::active = nullptr;

}    // namespace LAMMPS_NS

extern "C" int equipot_exchange(double *rows, int nfeat, int reverse)
{
  if (!LAMMPS_NS::PairEquipot::active) return 1;
  return LAMMPS_NS::PairEquipot::active->exchange_rows(rows, nfeat, reverse);
}

// ---------------------------------------------------------------------------- plugin entry

typedef void *(lammpsplugin_factory1)(void *);
typedef void *(lammpsplugin_factory2)(void *, int, char **);
typedef struct {
  const char *version;
  const char *style;
  const char *name;
  const char *info;
  const char *author;
  union {
    lammpsplugin_factory1 *v1;
    lammpsplugin_factory2 *v2;
  } creator;
  void *handle;
} lammpsplugin_t;
typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);

static Pair *equipot_creator(LAMMPS *lmp)
{
  return new PairEquipot(lmp);
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  lammpsplugin_t plugin;
  plugin.version = ((LAMMPS *) lmp)->version;    // built against this LAMMPS's own headers
  plugin.style = "pair";
  plugin.name = "equipot";
  plugin.info = "equipot machine-learning potential (Equiformer), via Python";
  plugin.author = "equipot";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &equipot_creator;
  plugin.handle = handle;
  ((lammpsplugin_regfunc) regfunc)(&plugin, lmp);
}
