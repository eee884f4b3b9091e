"""The models the service runs (not the models themselves: those are :mod:`model`, stored by ``model/store.py``).

    in_service.py   ModelsInService: the pipeline in service, promotion, polling for promotions made
                    on other replicas, and the shadow candidate
    choice.py       what may be promoted or shadowed: files of the model store with a valid manifest
    shadow.py       running the shadow candidate on a live claim after the response
"""
