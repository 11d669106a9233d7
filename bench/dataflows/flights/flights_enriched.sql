select f.*, a.name as airline, p.manufacturer, p.seats, d.name as dest_name, w.temp, w.precip
from {{ staging.flights }} f
left join {{ staging.airlines }} a on a.carrier = f.carrier
left join {{ staging.planes }} p on p.tailnum = f.tailnum
left join {{ staging.airports }} d on d.faa = f.dest
left join {{ staging.weather }} w on w.origin = f.origin and w.date = make_date(f.year, f.month, f.day)
