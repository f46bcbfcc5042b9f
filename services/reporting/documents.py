"""Exports: the indicator table as CSV and XLSX, and the half-year or year report laid out
like the province's official report (báo cáo của UBND tỉnh), as XLSX. Input is what the
views compute (already suppressed); nothing here reads the database."""
from __future__ import annotations

import csv
import io
from datetime import date

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

COLUMNS = ["org_unit_code", "org_unit_name", "period", "indicator", "section", "name_vi", "name_en", "numerator",
           "denominator", "value", "target", "status"]
HEADERS_VI = ["Mã đơn vị", "Đơn vị", "Kỳ", "Mã chỉ tiêu", "Mục", "Chỉ tiêu", "Indicator", "Tử số", "Mẫu số",
              "Kết quả", "Chỉ tiêu kế hoạch", "Đánh giá"]
STATUS_VI = {"met": "Đạt", "at_risk": "Có nguy cơ không đạt", "missed": "Không đạt", None: ""}
STATUS_FILL = {"met": "C6EFCE", "at_risk": "FFEB9C", "missed": "FFC7CE"}
PERIOD_VI = {"year": "năm {y}", "half_year": "6 tháng {h} năm {y}", "quarter": "quý {q} năm {y}",
             "month": "tháng {m} năm {y}"}
THIN = Side(style="thin")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)


def rows(table: dict) -> list[list]:
    """One line per unit (the unit, then its children) and indicator, as the API shows them."""
    out = []
    period = table["period"]["code"]
    for unit, indicators in [(table["org_unit"], table["indicators"])] + [
            (child["org_unit"], child["indicators"]) for child in table["children"]]:
        for row in indicators:
            out.append([unit["code"], unit["name"], period, row["id"], row.get("section"), row["name_vi"],
                        row["name_en"], _cell(row, "numerator"), row["denominator"], _value(row), row["target"],
                        row["status"]])
    return out


def _value(row: dict):
    return row["shown"] if row.get("suppressed") else row["value"]


def _cell(row: dict, name: str):
    return row["shown"] if row.get("suppressed") else row[name]


def indicators_csv(table: dict) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    writer.writerows(rows(table))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # the BOM makes spreadsheet programs read UTF-8


def indicators_xlsx(table: dict) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "Chỉ tiêu"
    sheet.append(COLUMNS)
    sheet.append(HEADERS_VI)
    for line in rows(table):
        sheet.append(line)
    for cell in sheet[1] + sheet[2]:
        cell.font = Font(bold=True)
    for i, width in enumerate([10, 28, 9, 28, 7, 60, 45, 9, 9, 9, 9, 10], start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.freeze_panes = "A3"
    return _save(book)


def period_words(period: dict) -> str:
    code, kind = period["code"], period["kind"]
    year = code[:4]
    half = "đầu" if code.endswith("S1") else "cuối"
    return PERIOD_VI[kind].format(y=year, h=half, q=code[-1], m=code[4:6].lstrip("0"))


def official_report(table: dict, support: list[dict], today: date, province_name: str) -> bytes:
    """The report of the provincial People's Committee on the plan, for a half-year or a year."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Báo cáo"
    widths = [6, 58, 14, 14, 12, 12, 22]
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    bold, italic = Font(name="Times New Roman", bold=True, size=12), Font(name="Times New Roman", italic=True, size=12)
    plain = Font(name="Times New Roman", size=12)
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)

    def put(row, col, value, font=plain, align=center, merge_to=None):
        cell = sheet.cell(row=row, column=col, value=value)
        cell.font, cell.alignment = font, align
        if merge_to:
            sheet.merge_cells(start_row=row, start_column=col, end_row=row, end_column=merge_to)
        return cell

    unit = table["org_unit"]
    authority = f"ỦY BAN NHÂN DÂN {province_name.upper()}" if unit["level"] == "province" else \
        f"ỦY BAN NHÂN DÂN {unit['name'].upper()}"
    put(1, 1, authority, bold, merge_to=2)
    put(1, 3, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", bold, merge_to=7)
    put(2, 1, "Số:        /BC-UBND", plain, merge_to=2)
    put(2, 3, "Độc lập - Tự do - Hạnh phúc", bold, merge_to=7)
    place = province_name.replace("Tỉnh ", "")
    put(3, 3, f"{place}, ngày {today.day} tháng {today.month} năm {today.year}", italic, merge_to=7)
    put(5, 1, "BÁO CÁO", Font(name="Times New Roman", bold=True, size=14), merge_to=7)
    title = (f"Kết quả thực hiện {table['plan']['title_vi'] or 'Kế hoạch phòng, chống mại dâm'} — "
             f"{period_words(table['period'])}")
    put(6, 1, title, bold, merge_to=7)
    sheet.row_dimensions[6].height = 36
    put(7, 1, f"(Đơn vị: {unit['name']}; kỳ báo cáo {table['period']['code']}, "
              f"từ {table['period']['start']:%d/%m/%Y} đến {table['period']['end']:%d/%m/%Y})", italic, merge_to=7)

    r = 9
    put(r, 1, "I. KẾT QUẢ THỰC HIỆN CÁC CHỈ TIÊU", bold, Alignment(horizontal="left"), merge_to=7)
    r += 1
    r = _grid(sheet, r, ["STT", "Chỉ tiêu", "Chỉ tiêu kế hoạch", "Kết quả", "Tử số", "Mẫu số", "Đánh giá"],
              [[i, row["name_vi"], _target(row), _result(row), _cell(row, "numerator"), row["denominator"],
                STATUS_VI[row["status"]]] for i, row in enumerate(table["indicators"], start=1)],
              statuses=[row["status"] for row in table["indicators"]], fonts=(bold, plain))

    if table["children"]:
        r += 1
        level = "HUYỆN, THÀNH PHỐ" if unit["level"] == "province" else "XÃ, PHƯỜNG, THỊ TRẤN"
        put(r, 1, f"II. KẾT QUẢ THEO {level}", bold, Alignment(horizontal="left"), merge_to=7)
        r += 1
        wanted = ["communes_communication", "establishments_reviewed", "establishments_inspected",
                  "hotspots_eliminated", "communes_healthy"]
        header = ["STT", "Đơn vị"] + [SHORT_VI[w] for w in wanted]
        lines = []
        for i, child in enumerate(table["children"], start=1):
            by_id = {row["id"]: row for row in child["indicators"]}
            lines.append([i, child["org_unit"]["name"]] + [_result(by_id[w]) if w in by_id else "" for w in wanted])
        sheet.column_dimensions["H"].width = 18
        r = _grid(sheet, r, header, lines, fonts=(bold, plain))

    if support:
        r += 1
        put(r, 1, "III. HỖ TRỢ NGƯỜI BÁN DÂM HÒA NHẬP CỘNG ĐỒNG (số người; \"<5\": từ 1 đến 4, \"x\": ẩn để bảo vệ)",
            bold, Alignment(horizontal="left", wrap_text=True), merge_to=7)
        sheet.row_dimensions[r].height = 30
        r += 1
        columns = support[0]["columns"]
        header = ["STT", "Huyện, thành phố"] + [SEX_VI.get(c, c) for c in columns] + ["Tổng"]
        lines = [[i, row["district_name"]] + [row["cells"][c] for c in columns] + [row["total"]]
                 for i, row in enumerate(support[0]["rows"], start=1)]
        if "totals" in support[0]:
            lines.append(["", "Toàn tỉnh"] + [support[0]["totals"][c] for c in columns] + [support[0]["total"]])
        r = _grid(sheet, r, header, lines, fonts=(bold, plain))
        for extra in support[1:]:
            put(r, 2, f"{MEASURE_VI.get(extra['measure'], extra['measure'])}: "
                      f"{extra.get('total', '')}", plain, Alignment(horizontal="left"), merge_to=7)
            r += 1

    r += 1
    put(r, 1, "Nơi nhận:", Font(name="Times New Roman", bold=True, italic=True, size=11),
        Alignment(horizontal="left"), merge_to=2)
    put(r, 4, "TM. ỦY BAN NHÂN DÂN", bold, merge_to=7)
    put(r + 1, 1, "- Bộ Lao động - Thương binh và Xã hội;\n- Thường trực Tỉnh ủy, HĐND tỉnh;\n- Lưu: VT.",
        Font(name="Times New Roman", size=10), Alignment(horizontal="left", wrap_text=True, vertical="top"), merge_to=2)
    sheet.row_dimensions[r + 1].height = 48
    put(r + 1, 4, "KT. CHỦ TỊCH\nPHÓ CHỦ TỊCH", bold, merge_to=7)
    sheet.print_options.horizontalCentered = True
    sheet.page_setup.orientation = "portrait"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    return _save(book)


SHORT_VI = {"communes_communication": "Xã có hoạt động truyền thông (%)",
            "establishments_reviewed": "Cơ sở được rà soát (%)", "establishments_inspected": "Cơ sở được kiểm tra (%)",
            "hotspots_eliminated": "Tụ điểm được triệt xóa (%)", "communes_healthy": "Xã lành mạnh (%)"}
SEX_VI = {"female": "Nữ", "male": "Nam", "other": "Khác", "unknown": "Không rõ"}
MEASURE_VI = {"people_supported": "Số người được hỗ trợ", "legal_aid": "Trợ giúp pháp lý",
              "health_care": "Hỗ trợ y tế", "vocational_training": "Được dạy nghề",
              "job_placement": "Được giải quyết việc làm", "reintegrated": "Hòa nhập cộng đồng"}


def _target(row: dict):
    if row.get("target_count"):
        return f"{row['target_count']}/{row['denominator']}"
    if row["target"] is None:
        return ""
    return f"{row['target']:g}%" if row["kind"] == "ratio" else row["target"]


def _result(row: dict):
    if row.get("suppressed"):
        return row["shown"]
    if row["value"] is None:
        return "—"
    return f"{row['value']:g}%" if row["kind"] == "ratio" else row["value"]


def _grid(sheet, first_row: int, header: list, lines: list[list], statuses=None, fonts=None) -> int:
    bold, plain = fonts
    for c, title in enumerate(header, start=1):
        cell = sheet.cell(row=first_row, column=c, value=title)
        cell.font, cell.border = bold, BOX
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
    sheet.row_dimensions[first_row].height = 45
    for i, line in enumerate(lines, start=1):
        for c, value in enumerate(line, start=1):
            cell = sheet.cell(row=first_row + i, column=c, value=value)
            cell.font, cell.border = plain, BOX
            cell.alignment = Alignment(horizontal="left" if c == 2 else "center", vertical="center", wrap_text=True)
        if statuses and statuses[i - 1] in STATUS_FILL:
            sheet.cell(row=first_row + i, column=len(line)).fill = PatternFill("solid",
                                                                              fgColor=STATUS_FILL[statuses[i - 1]])
    return first_row + len(lines) + 1


def _save(book: Workbook) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
