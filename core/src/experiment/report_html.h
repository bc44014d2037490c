// The report as one self-contained HTML page: the tables, training-loss curves (SVG) and
// animated grids of generated vs real videos (GIFs inlined as data URLs).
#pragma once

#include <string>
#include <vector>

#include "report_data.h"

namespace modelgrow::report {

std::string RenderHtml(const std::string& title, const std::vector<RunResults>& runs,
                       const json& rows, const std::vector<Column>& main,
                       const std::vector<Column>& categories,
                       const std::vector<Column>& by_timestep,
                       const std::vector<TextTable>& compute_tables,
                       const std::vector<TextTable>& findings,
                       const std::vector<std::string>& warnings);

}  // namespace modelgrow::report
