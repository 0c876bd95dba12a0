{#-
    Users of the tutorial report (randomuser.me) per city.
    var `min_users_per_city` (default 1) keeps only cities with at least that many users.
-#}
select
    {{ adapter.quote('location.city') }} as city,
    count(*) as users,
    sum(case when gender = 'female' then 1 else 0 end) as female,
    sum(case when gender = 'male' then 1 else 0 end) as male,
    count(distinct nat) as nationalities
from {{ source('tutorial', 'users') }}
group by 1
having count(*) >= {{ var('min_users_per_city', 1) }}
