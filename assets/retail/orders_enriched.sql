select o.order_id, o.ordered_at, o.customer_id, c.country, o.product_id, p.category,
       o.quantity, o.unit_price, o.amount, o.currency, o.status
from {{ staging.orders }} as o
left join {{ common.customers }} as c using (customer_id)
left join {{ staging.products }} as p using (product_id)
