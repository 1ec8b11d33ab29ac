// `axonseg make-dataset`: the training set of pipeline §4 from a base folder of cubes (and a source
// folder for histogram matching), written as OUT/TaskXXX_NAME in the project's format or as an
// nnU-Net raw task. The folder is made under a temporary name and renamed when complete.
#include "command.hpp"

#include "axonseg/core/progress.hpp"
#include "axonseg/io/atomic_folder.hpp"
#include "axonseg/prep/training_set.hpp"

#include <cstdio>

namespace axonseg::cli {

int run_make_dataset(const Args& args) {
    namespace po = boost::program_options;
    std::string base, source, out, format = "axonseg";
    Index task_id = 0;
    prep::TrainingSetParams p;
    bool no_contrast = false, overwrite = false;
    po::options_description options("make-dataset options");
    options.add_options()
        ("base", po::value(&base)->required(),
         "folder with train/volumes (or train/cropped-cubes), train/Fine-label, train/artifacts")
        ("source", po::value(&source), "a folder of the same layout: histogram-matching references (--match) "
                                       "and extra cubes (--join)")
        ("out", po::value(&out)->required(), "where the TaskXXX_NAME folder is made")
        ("task-id", po::value(&task_id)->required(), "XXX of TaskXXX_NAME, 0..999")
        ("task-name", po::value(&p.task_name)->required(), "NAME of TaskXXX_NAME; case names start with it")
        ("samples", po::value(&p.samples)->default_value(p.samples), "random crops per axon cube")
        ("dim", po::value(&p.dim)->default_value(p.dim), "crop edge in voxels; smaller cubes are skipped")
        ("match", po::bool_switch(&p.match), "add a copy of every cube histogram-matched to a random source cube")
        ("join", po::bool_switch(&p.join), "add the source's cubes as originals")
        ("mix-artifacts", po::bool_switch(&p.mix_artifacts), "add the artefact cubes with empty labels")
        ("cutmix", po::bool_switch(&p.cutmix), "add a CutMix of every axon cube with a random artefact cube")
        ("no-contrast", po::bool_switch(&no_contrast), "leave out the local contrast weakening")
        ("seed", po::value(&p.seed)->default_value(p.seed), "random seed: the same seed writes the same files")
        ("format", po::value(&format)->default_value(format),
         "axonseg (TIFF + dataset.json, for axonseg train) or nnunet (NIfTI raw task for nnU-Net v1)")
        ("overwrite", po::bool_switch(&overwrite), "replace an existing TaskXXX_NAME folder (only once the new one is complete)");
    po::variables_map vm;
    if (!parse(args,
               "usage: axonseg make-dataset --base DIR [--source DIR] --out DIR --task-id N --task-name NAME [options]\n"
               "Cuts augmented training crops from axon and artefact cubes (D-LMBmap's create_data).",
               options, vm))
        return 0;
    if (format != "axonseg" && format != "nnunet")
        throw po::error("--format must be axonseg or nnunet, got '" + format + "'");
    p.contrast = !no_contrast;
    const std::filesystem::path target = std::filesystem::path(out) / io::task_folder_name(task_id, p.task_name);
    io::AtomicFolder folder(target, overwrite);

    std::optional<ProgressBar> bar;
    const auto progress = [&](Index done, Index total) {
        if (!bar) bar.emplace("make-dataset", total, "crops");
        bar->update(done);
    };
    const io::DatasetWriter writer(folder.temp_path(), format == "nnunet" ? io::DatasetFormat::nnunet
                                                                          : io::DatasetFormat::axonseg);
    prep::TrainingSetSummary s = prep::make_training_set(base, source, p, writer, progress);
    if (bar) bar->finish();
    s.description.task_id = task_id;
    s.description.generator = {{"program", "axonseg make-dataset"},
                               {"base", base},
                               {"source", source},
                               {"seed", p.seed},
                               {"samples", p.samples},
                               {"dim", p.dim},
                               {"match", p.match},
                               {"join", p.join},
                               {"mix_artifacts", p.mix_artifacts},
                               {"cutmix", p.cutmix},
                               {"contrast", p.contrast}};
    writer.finish(s.description);
    folder.commit();
    for (const std::string& why : s.skipped) std::printf("make-dataset: skipped %s\n", why.c_str());
    Index artifacts = 0;
    for (const io::DatasetCase& c : s.description.training) artifacts += c.kind == "artifact";
    std::printf("make-dataset: wrote %zu training crops (%lld axon, %lld artefact) and %zu test images to %s (%s format)\n",
                s.description.training.size(), static_cast<long long>(Index(s.description.training.size()) - artifacts),
                static_cast<long long>(artifacts), s.description.test.size(), target.string().c_str(), format.c_str());
    return 0;
}

}  // namespace axonseg::cli
