{#- Service requests per neighbourhood; rebuilt after every dump of `exemplo.chamados`. -#}
select
    bairros.nome as bairro,
    count(*) as chamados,
    sum(case when chamados.status = 'Aberto' then 1 else 0 end) as abertos
from {{ source('exemplo', 'chamados') }} as chamados
inner join {{ source('exemplo', 'bairros') }} as bairros
    on chamados.id_bairro = bairros.id_bairro
group by 1
